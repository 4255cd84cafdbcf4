import { parseOptions, type ControlRequest, type ControlResult, type OrchestratorApi } from "../../core/index.js";
import { describe, human, onlyAgent } from "./send.js";
import type { AgentWatch } from "./watch.js";

/** The `respond` control as its handler sees it. */
export interface RespondControl {
  action: string;
  agentId: string;
  option: string;
}

/**
 * Answers the question an agent is blocked on: picks the option by its
 * label (exact, else the one option it is a case-insensitive prefix of) and
 * presses its number key, then waits up to `confirmMs` for the question to
 * go. Refused, with the agent's state, question and options, when the agent
 * is not blocked or no single option matches.
 */
export async function respond(
  deps: { api: OrchestratorApi; watch: AgentWatch; confirmMs: number },
  request: ControlRequest & { control: RespondControl },
): Promise<ControlResult> {
  const { api, watch, confirmMs } = deps;
  const { control } = request;
  const { session } = onlyAgent(api, control.agentId);
  // Blocked by the agent's own event, the prompt may not be drawn yet: its options come with the screen.
  await watch.until(session, Date.now() + confirmMs, (now) => now?.state !== "blocked" || Boolean(now.options?.length));
  const state = api.state(session);
  if (state?.state !== "blocked") return refuse("not_blocked", `${session} is ${describe(state)}, not blocked on a question: nothing to respond to`);
  const options = state.options ?? [];
  const label = pick(options, control.option);
  if (label === undefined) {
    return refuse("no_option", `"${control.option}" is not one option of ${session}'s question: ${describe(state)}`);
  }
  // The number as the screen shows it now (the state's options are labels only); a changed screen is refused.
  const screen = await api.screen(session);
  const option = parseOptions(screen?.lines ?? []).find((o) => o.label === label);
  if (!option) return refuse("changed", `the option "${label}" is no longer on ${session}'s screen: it is ${describe(api.state(session))}`);
  // A digit chooses at once; Enter would choose the highlighted option, whichever that is.
  await api.sendKeys(session, [String(option.number)]);
  const question = state.question;
  const gone = await watch.until(session, Date.now() + confirmMs, (now) => {
    return !now || now.state !== "blocked" || now.question !== question || now.since > state.since;
  });
  const after = api.state(session);
  if (gone !== "done") {
    return refuse("failed", `pressed ${option.number} ("${label}") but ${session} was still ${describe(after)} after ${human(confirmMs)}`);
  }
  return {
    ok: true,
    action: "respond",
    message: `answered "${question ?? "the question"}" of ${session} with "${label}" (key ${option.number}); it is now ${describe(after)}`,
    agents: api.report().filter((r) => r.session === session),
  };
}

/** The option a wanted label names: the exact label, else the one label it is a case-insensitive prefix of. */
export function pick(options: readonly string[], wanted: string): string | undefined {
  if (options.includes(wanted)) return wanted;
  const lower = wanted.toLowerCase();
  const exactCase = options.filter((o) => o.toLowerCase() === lower);
  if (exactCase.length === 1) return exactCase[0];
  const prefixed = options.filter((o) => o.toLowerCase().startsWith(lower));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

function refuse(code: string, error: string): ControlResult {
  return { ok: false, action: "respond", code, error };
}
