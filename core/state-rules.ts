import { parseOptions, screenMatches, type AgentProvider, type StateRules } from "./provider.js";
import type { AgentEvent, AgentState } from "./types.js";

/** What one screen says about an agent, by its provider's rules. */
export interface ScreenReading {
  state: "working" | "idle" | "blocked";
  question?: string;
  options?: string[];
}

/** The default time a new screen state must hold before it counts. */
export const DEFAULT_DEBOUNCE_MS = 300;

/** A provider's state rules with `working` filled from its start-up rules; undefined when it has none. */
export function stateRulesOf(provider: AgentProvider | undefined): StateRules | undefined {
  const rules = provider?.states;
  if (!rules) return undefined;
  const working = rules.working ?? provider?.working;
  return { ...rules, ...(working ? { working } : {}) };
}

/**
 * Reads a screen by the rules, in order: a question it is blocked on, work
 * in progress, waiting for input. Undefined when none matches (a redraw, a
 * dialog the rules do not know): the state stays what it was.
 */
export function readScreen(lines: readonly string[], rules: StateRules): ScreenReading | undefined {
  for (const rule of rules.blocked ?? []) {
    if (screenMatches(lines, rule.match)) return { state: "blocked", ...questionOf(lines, rule.question) };
  }
  if (rules.working && screenMatches(lines, rules.working)) return { state: "working" };
  if (rules.idle && screenMatches(lines, rules.idle)) return { state: "idle" };
  return undefined;
}

/**
 * The question on a screen (the first line matching `question`, trimmed, or
 * the first line matching any of the rules' questions) and its option labels.
 */
export function questionOf(lines: readonly string[], question: string | readonly string[]): { question?: string; options: string[] } {
  const sources = typeof question === "string" ? [question] : question;
  let line: string | undefined;
  for (const source of sources) {
    const re = new RegExp(source, "u");
    line = lines.find((l) => re.test(l));
    if (line !== undefined) break;
  }
  const options = parseOptions(lines).map((o) => o.label);
  return { ...(line !== undefined ? { question: line.trim().slice(0, 500) } : {}), options };
}

/** The state an agent's own event moves it to at once; undefined for events that say nothing about it. */
export function stateOfEvent(event: AgentEvent): AgentState | undefined {
  switch (event.kind) {
    case "prompt-submit":
    case "tool-use":
    case "tool-done":
      return "working";
    case "permission-request":
      return "blocked";
    case "stop":
      return "idle";
    default:
      return undefined;
  }
}

/** The last non-empty lines of a screen (at most 15). */
export function lastLinesOf(lines: readonly string[]): string[] {
  return lines.filter((l) => l.trim() !== "").slice(-15);
}
