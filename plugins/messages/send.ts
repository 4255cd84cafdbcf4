import {
  ControlError,
  sanitizeTyped,
  screenMatches,
  type AgentStateInfo,
  type ControlRequest,
  type ControlResult,
  type ManagedAgent,
  type OrchestratorApi,
} from "../../core/index.js";
import type { TypedMarks } from "./marks.js";
import type { AgentWatch } from "./watch.js";

/** The `send` control as its handler sees it. */
export interface SendControl {
  action: string;
  agentId: string;
  text: string;
  ttlMs?: number | undefined;
}

export interface SendDeps {
  api: OrchestratorApi;
  watch: AgentWatch;
  marks: TypedMarks;
  /** How long a message may wait for its agent when it names no TTL. */
  defaultTtlMs: number;
  /** How long the agent has to show it took the text, once typed. */
  confirmMs: number;
}

/** How long after Enter a paste marker still on the screen means the Enter was taken by the paste. */
const PASTE_SETTLE_MS = 1_500;

/**
 * Delivers one message: waits (up to its TTL, counted from when it was
 * sent) until the agent is `idle`, types it, and waits until the agent shows
 * it took it. Answers `delivered` (with when), `expired`, or why not.
 */
export async function send(deps: SendDeps, request: ControlRequest & { control: SendControl }): Promise<ControlResult> {
  const { api, watch, marks } = deps;
  const { control } = request;
  const agent = onlyAgent(api, control.agentId);
  const { session } = agent;
  const text = sanitizeTyped(control.text).replace(/\s+$/u, "");
  if (text.trim() === "") throw new ControlError("invalid", "invalid control: text: nothing to type (empty once control characters are removed)");
  const mark = marks.of(request);
  // Handled before a crash and typed then: the agent may have it; typing it again could make it twice.
  if (request.replay && mark !== undefined && marks.has(mark)) {
    return refusal("unconfirmed", `typing into ${session} began before the daemon restarted, so it is not typed again; whether ${session} took it is not known (see its screen)`);
  }
  const ttlMs = control.ttlMs ?? deps.defaultTtlMs;
  const deadline = (request.createdAtLocal ?? Date.now()) + ttlMs;
  let busy: AgentStateInfo | undefined;
  const outcome = await watch.until(session, deadline, (state) => {
    if (state && state.state !== "idle") busy = state;
    return !state || state.state === "idle" || state.state === "exited";
  });
  if (outcome === "closing") throw new Error("the daemon is stopping: the message is taken up again when it starts");
  const state = api.state(session);
  if (outcome === "timeout") {
    return refusal("expired", `not delivered: ${session} was ${describe(busy ?? state)} until the message's TTL (${human(ttlMs)}) passed; nothing was typed`);
  }
  if (!state) throw new ControlError("not_found", `${session} was stopped before the message could be typed`);
  if (state.state === "exited") throw new ControlError("exited", `${session} has exited${state.detail ? ` (${state.detail})` : ""}: nothing was typed`);
  if (mark !== undefined) marks.write(mark);
  return typeAndConfirm(deps, agent, text);
}

/** Types the text as the provider wants it (text, a pause, Enter), then waits for the agent to show it took it. */
async function typeAndConfirm(deps: SendDeps, agent: ManagedAgent, text: string): Promise<ControlResult> {
  const { api, watch } = deps;
  const { session } = agent;
  const provider = api.providers().get(agent.provider);
  const working = provider?.states?.working ?? provider?.working;
  const listener = watch.listen(session);
  try {
    const typedAt = Date.now();
    // Literal text; with a newline the backend pastes it (a bracketed paste): its newlines do not press Enter.
    await api.sendKeys(session, [text], { literal: true });
    await sleep(provider?.prompt?.enterDelayMs ?? 300);
    // Typed into anything but the input line (a dialog came up meanwhile), Enter could answer it: not pressed.
    if (api.state(session)?.state !== "idle") {
      return refusal("failed", `${session} became ${describe(api.state(session))} while the message was typed; Enter was not pressed (the text may be on its screen)`);
    }
    await api.sendKeys(session, ["Enter"]);
    const took = async (withinMs: number) => {
      const until = Date.now() + withinMs;
      for (;;) {
        if (listener.events.some((e) => e.kind === "prompt-submit" && e.at >= typedAt - 1_000)) return true;
        const state = api.state(session);
        if (state && (state.state === "working" || state.state === "blocked") && state.since >= typedAt) return true;
        const screen = working ? await api.screen(session) : undefined;
        if (screen && screenMatches(screen.lines, working!)) return true;
        if (Date.now() >= until || watch.closing) return false;
        await listener.next(Math.min(200, until - Date.now()));
      }
    };
    let taken = await took(Math.min(PASTE_SETTLE_MS, deps.confirmMs));
    const marker = provider?.prompt?.pastedMarker;
    if (!taken && marker) {
      // A long text can become "[Pasted text #1]" that needs one more Enter (AGENT-CLIS.md), pressed only at an idle input line.
      const screen = await api.screen(session);
      if (screen?.lines.some((l) => l.includes(marker)) && api.state(session)?.state === "idle") await api.sendKeys(session, ["Enter"]);
    }
    taken ||= await took(deps.confirmMs);
    if (!taken) {
      return refusal(
        "unconfirmed",
        `typed into ${session} at ${new Date(typedAt).toISOString()}, but it did not show it took the message within ${human(deps.confirmMs)} (it is ${describe(api.state(session))}); not typed again`,
      );
    }
    return delivered(api, session, Date.now());
  } finally {
    listener.close();
  }
}

/** The one agent a target names; refuses none, several, and exited ones. */
export function onlyAgent(api: OrchestratorApi, target: string): ManagedAgent {
  const agents = api.findAgents(target);
  if (agents.length === 0) throw new ControlError("not_found", `no managed agent matches "${target}"`);
  if (agents.length > 1) throw new ControlError("invalid", `"${target}" matches ${agents.length} agents (${agents.map((a) => a.session).join(", ")}): name one by its session`);
  const agent = agents[0]!;
  if (agent.status === "exited") throw new ControlError("exited", `${agent.session} has exited${agent.detail ? ` (${agent.detail})` : ""}`);
  return agent;
}

/** A state in words: `working`, `blocked on "Do you want to proceed?" (Yes / No)`. */
export function describe(state: AgentStateInfo | undefined): string {
  if (!state) return "no longer managed";
  if (state.state === "blocked") {
    const options = state.options?.length ? ` (${state.options.join(" / ")})` : "";
    return `blocked on "${state.question ?? "a question"}"${options}`;
  }
  return state.detail ? `${state.state} (${state.detail})` : state.state;
}

export function refusal(code: string, error: string): ControlResult {
  return { ok: false, action: "send", code, error };
}

function delivered(api: OrchestratorApi, session: string, at: number): ControlResult {
  const result = {
    ok: true as const,
    action: "send",
    message: `delivered to ${session} at ${new Date(at).toISOString()}`,
    agents: api.report().filter((r) => r.session === session),
    deliveredAt: at,
  };
  return result;
}

/** 90000 → "1.5 min", 600000 → "10 min", 5000 → "5 s". */
export function human(ms: number): string {
  return ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)} min` : `${+(ms / 1000).toFixed(1)} s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
