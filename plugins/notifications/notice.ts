import type { AgentState, ManagedAgent } from "../../core/index.js";

/** What a notification is about. */
export const NOTICE_EVENTS = ["blocked", "done", "exited", "crash-looping", "stuck"] as const;
export type NoticeEvent = (typeof NOTICE_EVENTS)[number];

/** What a state change or an exit tells about the agent, besides the agent itself. */
export interface NoticeFacts {
  /** The agent's live state now. */
  state: AgentState;
  /** blocked: the question on screen and its option labels, in screen order. */
  question?: string;
  options?: string[];
  /** stuck, exited, crash-looping: why, one line. */
  detail?: string;
  /** The last non-empty lines of its screen. */
  lastLines?: string[];
  /** exited, crash-looping: the exit status, when known, and the restarts in a row so far. */
  exitCode?: number;
  restarts?: number;
}

/**
 * One notification, as a webhook receives it (JSON) and a command reads it
 * on stdin: the facts, with what happened, where and to whom. `title` and
 * `message` are the same news as text (what an ntfy topic shows). Secrets
 * are redacted before it leaves the daemon.
 */
export interface Notice extends NoticeFacts {
  /** The version of this shape. */
  v: 1;
  event: NoticeEvent;
  /** When it happened (epoch ms, this host's clock). */
  at: number;
  host: { id: string; hostname: string };
  agent: { id: string; label: string; session: string; provider: string; cwd: string };
  title: string;
  message: string;
}

const HEADLINES: Record<NoticeEvent, string> = {
  blocked: "needs you",
  done: "is done",
  exited: "exited",
  "crash-looping": "is crash-looping",
  stuck: "is stuck",
};

/** At most this many last lines, each at most `MAX_LINE` characters, go into a notice. */
const MAX_LINES = 15;
const MAX_LINE = 300;

/** Builds the notice for one event of one agent (not yet redacted). */
export function buildNotice(event: NoticeEvent, agent: ManagedAgent, facts: NoticeFacts, host: Notice["host"], at = Date.now()): Notice {
  const lastLines = facts.lastLines?.filter((l) => l.trim() !== "").slice(-MAX_LINES).map(clip);
  const notice: Notice = {
    v: 1,
    event,
    at,
    host,
    agent: { id: agent.agentId, label: agent.label, session: agent.session, provider: agent.provider, cwd: agent.cwd },
    state: facts.state,
    ...(facts.question !== undefined && { question: clip(facts.question) }),
    ...(facts.options !== undefined && { options: facts.options.map(clip) }),
    ...(facts.detail !== undefined && { detail: clip(facts.detail) }),
    ...(lastLines?.length && { lastLines }),
    ...(facts.exitCode !== undefined && { exitCode: facts.exitCode }),
    ...(facts.restarts !== undefined && { restarts: facts.restarts }),
    title: `${agent.label} ${HEADLINES[event]} (${host.id})`,
    message: "",
  };
  notice.message = describe(notice);
  return notice;
}

/** The notice as a few lines of text: the question and its options, or why, then the last lines. */
function describe(notice: Notice): string {
  const parts: string[] = [];
  if (notice.question !== undefined) parts.push(notice.question);
  if (notice.options?.length) parts.push(`Options: ${notice.options.join(" / ")}`);
  if (notice.detail !== undefined) parts.push(notice.detail);
  if (parts.length === 0) parts.push(`${notice.agent.label} (${notice.agent.provider}) in ${notice.agent.cwd} is ${notice.state}`);
  const tail = notice.lastLines?.slice(notice.question !== undefined ? -5 : -10);
  if (tail?.length) parts.push("", ...tail);
  return parts.join("\n");
}

function clip(line: string): string {
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line;
}
