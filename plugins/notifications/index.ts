import { z } from "zod";
import { definePlugin, readPluginOptions, type AgentExit, type AgentState, type AgentStateDetail, type ManagedAgent } from "../../core/index.js";
import { buildNotice, type NoticeEvent, type NoticeFacts } from "./notice.js";
import { DeliveryQueue } from "./queue.js";
import { deliver, targetSchema, targetSecrets, wants, type Target } from "./targets.js";

export { NOTICE_EVENTS, type Notice, type NoticeEvent } from "./notice.js";
export { targetSchema, type Target } from "./targets.js";

export const NOTIFICATIONS_PLUGIN = "notifications";

const optionsSchema = z
  .object({
    /** Where notifications go; none (the default) turns the plugin off. */
    targets: z.array(targetSchema).default([]),
    /** The same event of the same agent again within this time is not sent again (0: always sent); a blocked agent's other question is no repeat. */
    debounceMs: z.number().int().min(0).default(15_000),
    /** Tries per notification and target, the first included. */
    attempts: z.number().int().min(1).max(20).default(5),
    minBackoffMs: z.number().int().min(0).default(1_000),
    maxBackoffMs: z.number().int().min(0).default(60_000),
    /** A try that takes longer fails (and is tried again). */
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /** Notifications under way at once, per target. */
    concurrency: z.number().int().min(1).max(32).default(2),
    /** Notifications waiting per target beyond this many: the oldest is dropped. */
    maxQueued: z.number().int().min(1).default(100),
    /** An agent that exits after this many restarts in a row (its report's `restarts`) is crash-looping. */
    crashLoopAfter: z.number().int().min(1).default(3),
  })
  .strict();

export type NotificationsOptions = z.input<typeof optionsSchema>;

/**
 * Tells people when an agent needs them: `blocked` (a question on screen),
 * `done` (idle after working), `stuck`, `exited` (on its own, not stopped)
 * and `crash-looping` (exited again after `crashLoopAfter` restarts in a
 * row). Each notice goes to every target that takes its event: a webhook
 * (JSON POST), an ntfy topic, or a command (JSON on stdin). Off until a
 * target is configured. Taps return at once: each target has its own queue,
 * so a dead or hanging one delays nothing but its own notices.
 */
export function notificationsPlugin(overrides: NotificationsOptions = {}) {
  return definePlugin({
    name: NOTIFICATIONS_PLUGIN,
    role: "notifications",
    config: { section: "notifications", schema: optionsSchema },
    apply(ctx) {
      const o = optionsSchema.parse({ ...readPluginOptions(ctx.config, "notifications", optionsSchema.partial()), ...overrides });
      if (o.targets.length === 0) return;
      const counts: Record<string, number> = {};
      const targets = o.targets.map((target: Target) => {
        for (const secret of targetSecrets(target)) ctx.addSecret(secret);
        const name = target.name ?? `${target.type} ${(counts[target.type] = (counts[target.type] ?? 0) + 1)}`;
        const { concurrency, attempts, minBackoffMs, maxBackoffMs, maxQueued } = o;
        const queue = new DeliveryQueue({ name, concurrency, attempts, minBackoffMs, maxBackoffMs, maxQueued, timeoutMs: target.timeoutMs ?? o.timeoutMs, logger: ctx.logger });
        return { target, queue };
      });
      ctx.logger.info(`notifying ${targets.map(({ target, queue }) => `${queue.name} (${target.events?.join(", ") ?? "all events"})`).join(", ")}`);
      const host = { id: ctx.config.id, hostname: ctx.config.hostname };
      const lastSent = new Map<string, number>();

      /** Sends one event to every target that takes it, unless it repeats one sent within `debounceMs`. */
      const notify = (event: NoticeEvent, agent: ManagedAgent, facts: NoticeFacts) => {
        const now = Date.now();
        for (const [key, at] of lastSent) if (now - at >= o.debounceMs) lastSent.delete(key);
        // A repeat is the same event of the same agent; a blocked agent asking another question is news.
        const key = JSON.stringify([agent.session, event, event === "blocked" ? facts.question : undefined]);
        if (lastSent.has(key)) return ctx.logger.debug(`${agent.session}: ${event} again within ${o.debounceMs} ms: not sent`);
        lastSent.set(key, now);
        const notice = ctx.redact(buildNotice(event, agent, facts, host, now));
        for (const { target, queue } of targets) {
          if (wants(target, event)) queue.push(`${event} of ${agent.session}`, (signal) => deliver(target, notice, signal));
        }
      };

      // An agent's own event may say it is blocked before its screen shows the question: the state
      // gets the question a moment later (not told again), so a blocked notice without one waits for it.
      const waits = new Set<NodeJS.Timeout>();
      const withQuestion = (agent: ManagedAgent, facts: NoticeFacts, since = Date.now()) => {
        const wait = setTimeout(() => {
          waits.delete(wait);
          const live = ctx.orchestrator.state(agent.session);
          if (live?.state !== "blocked") return ctx.logger.debug(`${agent.session}: answered before its question showed; not sent`);
          if (live.question === undefined && Date.now() - since < QUESTION_WAIT_MS) return withQuestion(agent, facts, since);
          notify("blocked", agent, { ...facts, question: live.question, options: live.options, lastLines: live.lastLines ?? facts.lastLines });
        }, 100);
        waits.add(wait);
      };

      ctx.hooks.onAgentState.tap((agent: ManagedAgent, from: AgentState, to: AgentState, detail: AgentStateDetail) => {
        const event = eventOf(from, to);
        if (event === "blocked" && detail.question === undefined) withQuestion(agent, { state: to, ...pick(detail) });
        else if (event) notify(event, agent, { state: to, ...pick(detail) });
      });

      // An exit on its own (a stop on purpose fires no onAgentExit); the report says how often it was restarted in a row.
      ctx.hooks.onAgentExit.tap((agent: ManagedAgent, exit: AgentExit) => {
        const report = ctx.orchestrator.report().find((r) => r.session === agent.session);
        const restarts = report?.restarts;
        const event = restarts !== undefined && restarts >= o.crashLoopAfter ? "crash-looping" : "exited";
        notify(event, agent, { state: "exited", detail: report?.detail ?? agent.detail, lastLines: exit.lastLines, exitCode: exit.code, restarts });
      });

      ctx.onClose(() => {
        for (const wait of waits) clearTimeout(wait);
        for (const { queue } of targets) queue.close();
      });
    },
  });
}

/** How long a blocked notice waits for its question to show on screen; then it goes without. */
const QUESTION_WAIT_MS = 3_000;

/** The event a state change is, if any: `exited` comes from `onAgentExit` instead, where a stop on purpose is told apart. */
function eventOf(from: AgentState, to: AgentState): NoticeEvent | undefined {
  if (to === "blocked" || to === "stuck") return to;
  if (to === "idle" && (from === "working" || from === "stuck")) return "done";
  return undefined;
}

function pick({ question, options, detail, lastLines }: AgentStateDetail): Omit<NoticeFacts, "state"> {
  return { question, options, detail, lastLines };
}
