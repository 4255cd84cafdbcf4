import {
  ControlError,
  DEFAULT_PROVIDER,
  definePlugin,
  spawnLabel,
  type ControlRequest,
  type ControlResult,
  type ManagedAgent,
  type OrchestratorApi,
} from "../../core/index.js";

export const CONTROLS_PLUGIN = "controls";

/**
 * Answers the three lifecycle controls of protocol v2: `spawn`, `restart`
 * and `shutdown`. `restart` and `shutdown` act on the agent named by
 * `agentId` (an agentId, a session name or a label), or on every managed
 * agent when it is absent.
 *
 * Delivered twice, a control has its effect once: a spawn without a label
 * gets one derived from the message (`<provider>-<requestedAt or sent time>`),
 * so a second delivery finds the agent the first one started; a replayed
 * restart or shutdown whose effect is already true is answered as done. A
 * replay (handling began before a crash) acts only on what the first
 * handling could have found: agents started after the control was sent are
 * its own effect (a spawn with `replace`, a restart) or a later control's,
 * and are left alone.
 */
export function controlsPlugin() {
  return definePlugin({
    name: CONTROLS_PLUGIN,
    role: "controls",
    apply(ctx) {
      const api = ctx.orchestrator;
      ctx.hooks.onControl.tap(async (request) => {
        switch (request.control.action) {
          case "spawn":
            return spawn(api, request);
          case "restart":
            return eachTarget(api, request, "restarted", async (agent) => (startedSince(request, agent) ? agent : api.restart(agent)));
          case "shutdown":
            return eachTarget(api, request, "stopped", async (agent) => {
              await api.stop(agent);
              return agent;
            });
          default:
            return undefined;
        }
      });
    },
  });
}

/** On a replay: whether the agent started after the control was sent (so not before its first handling). */
function startedSince({ replay, createdAt, createdAtLocal }: ControlRequest, agent: ManagedAgent): boolean {
  const sent = createdAtLocal ?? createdAt;
  return Boolean(replay) && sent !== undefined && agent.startedAt >= sent;
}

async function spawn(api: OrchestratorApi, request: ControlRequest): Promise<ControlResult> {
  const { control, createdAt } = request;
  const label = spawnLabel(control, createdAt);
  // A replayed replace whose agent started after the control was sent replaced it already.
  const current = label !== undefined ? api.findAgents(label).find((a) => a.provider === (control.provider ?? DEFAULT_PROVIDER)) : undefined;
  const replace = control.replace && !(current && current.status !== "exited" && startedSince(request, current));
  const { agent, existing } = await api.spawn({
    provider: control.provider ?? DEFAULT_PROVIDER,
    ...(label !== undefined ? { label } : {}),
    ...(control.cwd !== undefined ? { cwd: control.cwd } : {}),
    ...(control.approvalMode !== undefined ? { approvalMode: control.approvalMode } : {}),
    ...(control.prompt !== undefined ? { prompt: control.prompt } : {}),
    ...(replace ? { replace: true } : {}),
    ...(control.restartPolicy !== undefined ? { meta: { restartPolicy: control.restartPolicy } } : {}),
    ...(control.env !== undefined ? { env: control.env } : {}),
  });
  const report = api.report().filter((r) => r.tmuxSession === agent.tmuxSession);
  return {
    ok: true,
    action: "spawn",
    message: existing && !startedSince(request, agent) ? `${agent.tmuxSession} is already running (${agent.status})` : `spawned ${agent.tmuxSession}`,
    agents: report,
  };
}

async function eachTarget(
  api: OrchestratorApi,
  request: ControlRequest,
  verb: string,
  act: (agent: ManagedAgent) => Promise<ManagedAgent>,
): Promise<ControlResult> {
  const { control, replay } = request;
  // Replayed without a target, a shutdown leaves the agents spawned since it was sent.
  const targets = control.agentId
    ? api.findAgents(control.agentId)
    : api.agents().filter((a) => control.action !== "shutdown" || !startedSince(request, a));
  if (control.agentId && targets.length === 0) {
    // A shutdown delivered again after it took effect finds nothing left to do.
    if (replay && control.action === "shutdown") {
      return { ok: true, action: control.action, message: `${control.agentId} is already stopped`, agents: [] };
    }
    throw new ControlError("not_found", `no managed agent matches "${control.agentId}"`);
  }
  const done: ManagedAgent[] = [];
  const failed: string[] = [];
  await Promise.all(
    targets.map(async (target) => {
      try {
        done.push(await act(target));
      } catch (err) {
        failed.push(`${target.tmuxSession}: ${(err as Error).message}`);
      }
    }),
  );
  if (failed.length > 0) throw new ControlError("failed", `${control.action} failed for ${failed.join("; ")}`);
  const sessions = new Set(done.map((a) => a.tmuxSession));
  return {
    ok: true,
    action: control.action,
    message: done.length === 0 ? "no managed agents" : `${verb} ${[...sessions].join(", ")}`,
    agents: api.report().filter((r) => sessions.has(r.tmuxSession)),
  };
}
