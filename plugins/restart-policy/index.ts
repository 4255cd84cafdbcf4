import { z } from "zod";
import { definePlugin, errorMessage, readPluginOptions, type AgentExit, type ManagedAgent, type SpawnSpec } from "../../core/index.js";

export const RESTART_POLICY_PLUGIN = "restart-policy";

const optionsSchema = z
  .object({
    /** For agents whose spawn named none: `never`, `on-failure` (exit code not 0, or unknown) or `always`. */
    policy: z.enum(["never", "on-failure", "always"]).default("never"),
    minBackoffMs: z.number().int().min(0).default(1_000),
    maxBackoffMs: z.number().int().min(0).default(5 * 60_000),
    /** An agent that ran this long before it exited starts its count again. */
    healthyAfterMs: z.number().int().min(0).default(10 * 60_000),
    /** From this many restarts in a row an agent is reported as crash-looping. */
    crashLoopAfter: z.number().int().min(1).default(3),
  })
  .strict();

export type RestartPolicyOptions = z.input<typeof optionsSchema>;

/**
 * Restarts agents that exit on their own, per their spawn's `restartPolicy`
 * (or the config's `restarts.policy`): exponential backoff with jitter from
 * `minBackoffMs` to `maxBackoffMs`, the count kept with the agent (so it
 * survives a daemon restart) and reset after `healthyAfterMs` of running.
 * An agent stopped on purpose is never restarted.
 */
export function restartPolicyPlugin(overrides: RestartPolicyOptions = {}) {
  return definePlugin({
    name: RESTART_POLICY_PLUGIN,
    role: "restart-policy",
    config: { section: "restarts", schema: optionsSchema },
    apply(ctx) {
      const o = optionsSchema.parse({ ...readPluginOptions(ctx.config, "restarts", optionsSchema.partial()), ...overrides });
      const pending = new Map<string, NodeJS.Timeout>();
      const cancel = (session: string) => {
        clearTimeout(pending.get(session));
        pending.delete(session);
      };

      // A spawn control may name its agent's policy; it is kept with the agent (and its session) from then on.
      ctx.extendControl("spawn", { restartPolicy: z.enum(["never", "on-failure", "always"]).optional() });
      ctx.hooks.beforeSpawn.tap((spec: SpawnSpec) =>
        typeof spec.control.restartPolicy === "string" ? { ...spec, meta: { ...spec.meta, restartPolicy: spec.control.restartPolicy } } : spec,
      );

      ctx.hooks.onAgentExit.tap((agent: ManagedAgent, exit: AgentExit) => {
        const policy = typeof agent.meta.restartPolicy === "string" ? agent.meta.restartPolicy : o.policy;
        if (policy === "never" || (policy === "on-failure" && exit.code === 0)) return;
        const ranFor = Date.now() - (agent.readyAt ?? agent.startedAt);
        const previous = typeof agent.meta.restarts === "number" && ranFor < o.healthyAfterMs ? agent.meta.restarts : 0;
        const wait = backoff(previous, o.minBackoffMs, o.maxBackoffMs);
        const looping = previous + 1 >= o.crashLoopAfter;
        ctx.orchestrator.annotate(
          agent.session,
          `${looping ? `crash-looping: restarted ${previous} times in a row; ` : ""}${agent.detail ?? "exited"}; restart ${previous + 1} in ${(wait / 1000).toFixed(1)} s (policy ${policy})`,
        );
        cancel(agent.session);
        pending.set(
          agent.session,
          setTimeout(() => {
            pending.delete(agent.session);
            const current = ctx.orchestrator.findAgents(agent.session).find((a) => a.status === "exited");
            if (!current) return; // stopped, restarted or replaced meanwhile
            ctx.logger.info(`restarting ${agent.session} (restart ${previous + 1}, policy ${policy})`);
            ctx.orchestrator.restart(current, { meta: { restarts: previous + 1 } }).catch((err: unknown) => {
              ctx.logger.warn(`restart of ${agent.session} failed: ${errorMessage(err)}`);
            });
          }, wait),
        );
      });

      // Reports say how often in a row an agent was restarted (kept in its meta, so it survives a daemon restart).
      ctx.hooks.onReport.tap((report, agent) => (typeof agent.meta.restarts === "number" ? { ...report, restarts: agent.meta.restarts } : report));

      // An agent stopped (or restarted) on purpose needs no restart of ours.
      ctx.hooks.afterStop.tap((agent: ManagedAgent) => cancel(agent.session));
      ctx.onClose(() => {
        for (const session of [...pending.keys()]) cancel(session);
      });
    },
  });
}

/** `min · 2^n`, at most `max`, then between half and all of it (full jitter would allow 0). */
export function backoff(restarts: number, min: number, max: number): number {
  const ceiling = Math.min(max, min * 2 ** restarts);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
