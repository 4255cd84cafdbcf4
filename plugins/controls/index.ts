import { ControlError, definePlugin, type ControlPayload, type ControlResult, type ManagedAgent, type OrchestratorApi } from "../../core/index.js";

export const CONTROLS_PLUGIN = "controls";

/**
 * Answers the three lifecycle controls of protocol v2: `spawn`, `restart`
 * and `shutdown`. `restart` and `shutdown` act on the agent named by
 * `agentId` (an agentId, a session name or a label), or on every managed
 * agent when it is absent.
 */
export function controlsPlugin() {
  return definePlugin({
    name: CONTROLS_PLUGIN,
    role: "controls",
    apply(ctx) {
      const api = ctx.orchestrator;
      ctx.hooks.onControl.tap(async ({ control }) => {
        switch (control.action) {
          case "spawn":
            return spawn(api, control);
          case "restart":
            return eachTarget(api, control, "restarted", (agent) => api.restart(agent));
          case "shutdown":
            return eachTarget(api, control, "stopped", async (agent) => {
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

async function spawn(api: OrchestratorApi, control: ControlPayload): Promise<ControlResult> {
  const { agent, existing } = await api.spawn({
    ...(control.provider !== undefined ? { provider: control.provider } : {}),
    ...(control.cwd !== undefined ? { cwd: control.cwd } : {}),
    ...(control.label !== undefined ? { label: control.label } : {}),
    ...(control.approvalMode !== undefined ? { approvalMode: control.approvalMode } : {}),
    ...(control.prompt !== undefined ? { prompt: control.prompt } : {}),
  });
  const report = api.report().filter((r) => r.tmuxSession === agent.tmuxSession);
  return {
    ok: true,
    action: "spawn",
    message: existing ? `${agent.tmuxSession} is already running` : `spawned ${agent.tmuxSession}`,
    agents: report,
  };
}

async function eachTarget(
  api: OrchestratorApi,
  control: ControlPayload,
  verb: string,
  act: (agent: ManagedAgent) => Promise<ManagedAgent>,
): Promise<ControlResult> {
  const targets = control.agentId ? api.findAgents(control.agentId) : api.agents();
  if (control.agentId && targets.length === 0) {
    throw new ControlError("not_found", `no managed agent matches "${control.agentId}"`);
  }
  const done: ManagedAgent[] = [];
  const failed: string[] = [];
  for (const target of targets) {
    try {
      done.push(await act(target));
    } catch (err) {
      failed.push(`${target.tmuxSession}: ${(err as Error).message}`);
    }
  }
  if (failed.length > 0) throw new ControlError("failed", `${control.action} failed for ${failed.join("; ")}`);
  const sessions = new Set(done.map((a) => a.tmuxSession));
  return {
    ok: true,
    action: control.action,
    message: done.length === 0 ? "no managed agents" : `${verb} ${[...sessions].join(", ")}`,
    agents: api.report().filter((r) => sessions.has(r.tmuxSession)),
  };
}
