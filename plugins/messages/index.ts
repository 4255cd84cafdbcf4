import { join } from "node:path";
import { z } from "zod";
import { defineControl, definePlugin, safeText, type OrchestratorApi } from "../../core/index.js";
import { TypedMarks } from "./marks.js";
import { respond } from "./respond.js";
import { send } from "./send.js";
import { AgentWatch } from "./watch.js";

export const MESSAGES_PLUGIN = "messages";

/** How long a message waits for its agent to be idle when it names no `ttlMs`. */
export const DEFAULT_TTL_MS = 10 * 60_000;
const MAX_TTL_MS = 24 * 3600_000;

/** The fields of `send`: the agent (an agentId, a session name or a label), the text, and how long it may wait. */
export const sendFields = {
  agentId: safeText(256).min(1),
  text: z.string().min(1, "expected some text").max(100_000, "expected at most 100000 characters"),
  ttlMs: z.number().int().min(1).max(MAX_TTL_MS, `expected at most ${MAX_TTL_MS} ms (24 h)`).optional(),
};

/** The fields of `respond`: the agent, and the label of the option to choose ("Yes", "no", a unique prefix). */
export const respondFields = {
  agentId: safeText(256).min(1),
  option: safeText(200).min(1),
};

export interface MessagesOptions {
  /** How long a message may wait for its agent when it names no TTL (default 10 min). */
  defaultTtlMs?: number;
  /** How long an agent has to show it took a message or an answer (default 10 s). */
  confirmMs?: number;
}

/**
 * Talking to running agents: the controls `send` and `respond`.
 *
 * `send` (agentId, text, ttlMs) queues a message for an agent: messages to
 * one agent are delivered one after another, in the order they came, each
 * typed only when the agent is `idle` (`orchestrator.state`, woken by
 * `onAgentState`): never while it starts or works, never into a question or
 * permission prompt it is `blocked` on. Text is typed as data (control
 * characters removed); text with a newline goes in as one bracketed paste,
 * so it arrives as one message. The answer comes once the outcome is known:
 * `delivered` (with `deliveredAt`) once the agent shows it took the text (its
 * `prompt-submit` event, or it went working), `expired` when the TTL
 * (counted from when the message was sent) passed while it was busy or
 * blocked, or a refusal (no such agent, it exited, it was stopped). A send
 * does not hold up other controls for its agent (a restart, a `respond`).
 *
 * `respond` (agentId, option) answers what an agent is blocked on: the
 * option whose label matches (exactly, else a case-insensitive unique
 * prefix) is chosen by its number key, and the answer comes once the
 * question went away. Refused with the agent's state, question and options
 * when it is not blocked or no single option matches.
 *
 * Delivered twice by the relay, a control runs once (the core's journal);
 * after a daemon crash, a message whose typing had begun is not typed again.
 */
export function messagesPlugin(options: MessagesOptions = {}) {
  return definePlugin({
    name: MESSAGES_PLUGIN,
    role: "messages",
    apply(ctx) {
      const api = ctx.orchestrator;
      const watch = new AgentWatch(api);
      watch.attach(ctx);
      const marks = new TypedMarks(join(ctx.config.stateDir, "messages", encodeURIComponent(ctx.config.id)), ctx.logger);
      marks.prune();
      const confirmMs = options.confirmMs ?? 10_000;
      ctx.provideControl(
        defineControl({
          action: "send",
          fields: sendFields,
          // Messages to one agent take turns among themselves, not with its other controls.
          key: (control) => `send:${sessionOf(api, control.agentId)}`,
          // A message may wait up to its TTL: a shutdown or restart of every agent does not wait for it.
          longWait: true,
          handle: (request) => send({ api, watch, marks, confirmMs, defaultTtlMs: options.defaultTtlMs ?? DEFAULT_TTL_MS }, request),
        }),
      );
      ctx.provideControl(
        defineControl({
          action: "respond",
          fields: respondFields,
          key: (control) => control.agentId,
          handle: (request) => respond({ api, watch, confirmMs }, request),
        }),
      );
    },
  });
}

/** The session of the agent a target names (the key messages to it share), or the target itself. */
function sessionOf(api: OrchestratorApi, target: string): string {
  return api.findAgents(target)[0]?.session ?? target;
}
