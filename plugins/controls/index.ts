import { z } from "zod";
import {
  ControlError,
  defineControl,
  definePlugin,
  safeText,
  sessionNameFor,
  type ControlOf,
  type ControlRequest,
  type ControlResult,
  type ManagedAgent,
  type OrchestratorApi,
} from "../../core/index.js";

export const CONTROLS_PLUGIN = "controls";

/** The provider a spawn control gets when it names none (PROTOCOL.md). */
export const DEFAULT_PROVIDER = "claude";

/** The fields of `spawn` (PROTOCOL.md); `restartPolicy` and `env` are added by the plugins that own them. */
export const spawnFields = {
  provider: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "expected a provider name").optional(),
  cwd: safeText(4096).optional(),
  label: safeText(200).min(1).optional(),
  approvalMode: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "expected a short mode name").optional(),
  prompt: z.string().max(100_000, "expected at most 100000 characters").optional(),
  /** Replace a running agent with the same label instead of answering with it. */
  replace: z.boolean().optional(),
};

/** The fields of `restart` and `shutdown`: the agent (an agentId, a session name or a label); none means every agent. */
export const targetFields = { agentId: safeText(256).min(1).optional() };

type SpawnControl = ControlOf<typeof spawnFields>;

/**
 * Answers the three lifecycle controls of protocol v2: `spawn`, `restart`
 * and `shutdown`, each declared with its fields and the agent it is ordered
 * by. `restart` and `shutdown` act on the agent named by `agentId` (an
 * agentId, a session name or a label), or on every managed agent when it is absent.
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
      const target = (control: { agentId?: string | undefined }) => control.agentId ?? "*";
      ctx.provideControl(
        defineControl({
          action: "spawn",
          fields: spawnFields,
          key(control, { createdAt }) {
            const label = spawnLabel(control, createdAt)!;
            // The agent's key is its session name; until it exists, a restart or shutdown may name it by its label.
            return { agent: sessionNameFor(ctx.config.tmuxPrefix, control.provider ?? DEFAULT_PROVIDER, label), aliases: [label] };
          },
          handle: (request) => spawn(api, request),
        }),
      );
      ctx.provideControl(
        defineControl({
          action: "restart",
          fields: targetFields,
          key: target,
          handle: (request) => eachTarget(api, request, "restarted", async (agent) => (startedSince(request, agent) ? agent : api.restart(agent))),
        }),
      );
      ctx.provideControl(
        defineControl({
          action: "shutdown",
          fields: targetFields,
          key: target,
          handle: (request) =>
            eachTarget(api, request, "stopped", async (agent) => {
              await api.stop(agent);
              return agent;
            }),
        }),
      );
    },
  });
}

/**
 * The label of a spawn control: its own, else `<provider>-<requestedAt or
 * sent time>` (the protocol's form), which is the same each time the message
 * is delivered. Undefined when the control carries neither time.
 */
export function spawnLabel(control: SpawnControl, sentAt?: number): string | undefined {
  if (control.label !== undefined) return control.label;
  const stamp = control.requestedAt ?? sentAt;
  return stamp !== undefined ? `${control.provider ?? DEFAULT_PROVIDER}-${stamp}` : undefined;
}

/** On a replay: whether the agent started after the control was sent (so not before its first handling). */
function startedSince({ replay, createdAt, createdAtLocal }: ControlRequest, agent: ManagedAgent): boolean {
  const sent = createdAtLocal ?? createdAt;
  return Boolean(replay) && sent !== undefined && agent.startedAt >= sent;
}

async function spawn(api: OrchestratorApi, request: ControlRequest & { control: SpawnControl }): Promise<ControlResult> {
  const { control, createdAt } = request;
  const { action: _action, requestedBy: _by, requestedAt: _at, provider = DEFAULT_PROVIDER, cwd, label: _label, approvalMode, prompt, replace: _replace, ...others } = control;
  const label = spawnLabel(control, createdAt);
  // A replayed replace whose agent started after the control was sent replaced it already.
  const current = label !== undefined ? api.findAgents(label).find((a) => a.provider === provider) : undefined;
  const replace = control.replace && !(current && current.status !== "exited" && startedSince(request, current));
  const { agent, existing } = await api.spawn({
    provider,
    ...(label !== undefined ? { label } : {}),
    ...(cwd !== undefined ? { cwd } : {}),
    ...(approvalMode !== undefined ? { approvalMode } : {}),
    ...(prompt !== undefined ? { prompt } : {}),
    ...(replace ? { replace: true } : {}),
    // Fields other plugins added to spawn (restartPolicy, env, …) go on to them, untouched.
    control: others,
  });
  const report = api.report().filter((r) => r.session === agent.session);
  return {
    ok: true,
    action: "spawn",
    message: existing && !startedSince(request, agent) ? `${agent.session} is already running (${agent.status})` : `spawned ${agent.session}`,
    agents: report,
  };
}

async function eachTarget(
  api: OrchestratorApi,
  request: ControlRequest & { control: { agentId?: string | undefined } },
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
        failed.push(`${target.session}: ${(err as Error).message}`);
      }
    }),
  );
  if (failed.length > 0) throw new ControlError("failed", `${control.action} failed for ${failed.join("; ")}`);
  const sessions = new Set(done.map((a) => a.session));
  return {
    ok: true,
    action: control.action,
    message: done.length === 0 ? "no managed agents" : `${verb} ${[...sessions].join(", ")}`,
    agents: api.report().filter((r) => sessions.has(r.session)),
  };
}
