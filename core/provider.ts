import type { SpawnSpec } from "./types.js";

/**
 * Text on a screen, as data: every `all` pattern must match some line, no
 * `none` pattern may match any line. Strings are regular-expression sources,
 * so config files can override them (CLI versions move).
 */
export interface ScreenMatch {
  all: string[];
  none?: string[];
}

/** A dialog an agent CLI may show at start, and how to answer it. */
export interface DialogRule {
  id: string;
  /** How to recognise it on the screen. */
  match: ScreenMatch;
  /**
   * The answer: the option whose label matches `choose` (a regex source) is
   * picked, by Enter when it is already highlighted, else by its number key.
   * For a notice without options, `keys` names the keys to send (e.g. Enter).
   */
  choose?: string;
  keys?: string[];
}

export interface PromptRules {
  /** `argument`: the launcher puts the prompt on the command line; `type`: typed once the agent is ready. */
  delivery: "argument" | "type";
  /** Pause between the text and Enter (some CLIs ignore an Enter that arrives with the text). */
  enterDelayMs?: number;
  /** When this shows on the screen after Enter, the text became a paste that needs another Enter. */
  pastedMarker?: string;
}

export interface StopRules {
  /** Key presses that ask the agent to exit, sent one call each, `intervalMs` apart. */
  keys: string[][];
  intervalMs?: number;
  /** How long to wait for the exit before the session is killed. */
  graceMs?: number;
}

/**
 * How the core reads an agent's live state off its screen, as data (config
 * overrides them: `screens.states`). Checked in this order: blocked, working, idle.
 */
export interface StateRules {
  /** Screen while the agent works (claude: a line matching `esc to interrupt`). Defaults to `AgentProvider.working`. */
  working?: ScreenMatch;
  /** Screen while it waits for input (claude: `^❯ ?$` between rules, no `esc to interrupt`). */
  idle?: ScreenMatch;
  /**
   * Questions it can be blocked on: match + how to read the question line
   * (regex source; the first line matching it is the question). Options are
   * read with `parseOptions()`.
   */
  blocked?: Array<{ id: string; match: ScreenMatch; question: string }>;
  /** How long a new screen state must hold before it counts (default 300 ms). */
  debounceMs?: number;
}

/**
 * Where an agent's own events come from, named by its launcher: the built-in
 * ones are `"claude-hooks"` (claude's `--settings` hooks) and `"codex-notify"`
 * (codex's `notify` program). The core reads only that there is a source: it
 * then watches the agent's event file, whatever writes it.
 */
export type AgentEventSource = string;

/** Everything the core needs to start, watch and stop one kind of agent. */
export interface AgentProvider {
  name: string;
  /** The argv and extra env for a spawn. */
  command(spec: SpawnSpec): { command: string[]; env?: Record<string, string> };
  /** The binary and how to ask its version (for `doctor`). */
  binary?: { bin: string; versionArgs: string[] };
  /** What the screen looks like when the agent is ready for work. */
  ready: ScreenMatch;
  /**
   * What the screen looks like while the agent works on a task. With the
   * prompt given as an argument the agent starts working at once: that
   * counts as ready too.
   */
  working?: ScreenMatch;
  dialogs?: DialogRule[];
  /**
   * Screens that mean the agent cannot start (e.g. not logged in): it is
   * reported stuck at once, with `detail`. One on the last screen of an agent
   * that exited during start-up adds its `detail` (the fix) to the exit.
   */
  blockers?: Array<{ id: string; match: ScreenMatch; detail: string }>;
  /**
   * Last screens of an agent that exited during start-up, and the fix to add
   * to the exit's detail. Read only once the process has ended (a blocker is
   * also read while the agent runs, and reports it stuck).
   */
  exitHints?: Array<{ id: string; match: ScreenMatch; detail: string }>;
  prompt?: PromptRules;
  stop?: StopRules;
  /** How long start-up may take before the agent is reported stuck. */
  startTimeoutMs?: number;
  /** How its live state shows on its screen once it started (see `StateRules`). Without it: only start-up, exit and stop are known. */
  states?: StateRules;
  /**
   * The agent's own events, where it has them. The launcher wires them to
   * append to the event file (`eventFilePath`); the core watches the file.
   */
  events?: AgentEventSource;
  /**
   * Its events include the start of each turn (a prompt-submit event): while
   * it is idle, its screen is looked at only every `states.idleTickMs`, since
   * that event wakes the watcher. A provider whose events only end turns
   * leaves this unset, and its screen is watched at the full tick.
   */
  eventsStartTurns?: boolean;
}

/** Whether a screen matches: every `all` pattern on some line, no `none` pattern on any. */
export function screenMatches(lines: readonly string[], match: ScreenMatch): boolean {
  const test = (source: string) => {
    const re = new RegExp(source, "u");
    return lines.some((line) => re.test(line));
  };
  return match.all.every(test) && !(match.none ?? []).some(test);
}

export interface ScreenOption {
  number: number;
  label: string;
  selected: boolean;
}

/** The numbered options of a dialog (`❯ 1. Yes`, `  2. No`, `› 1. Trust`), with the highlighted one. */
export function parseOptions(lines: readonly string[]): ScreenOption[] {
  const options: ScreenOption[] = [];
  for (const line of lines) {
    const m = line.match(/^\s*([❯›>])?\s*(\d{1,2})\.\s+(\S.*?)\s*$/u);
    if (m) options.push({ number: Number(m[2]), label: m[3]!, selected: Boolean(m[1]) });
  }
  return options;
}

/**
 * The keys that answer a dialog on this screen, or undefined when the wanted
 * option is not on it: Enter if it is highlighted, its number otherwise.
 */
export function answerKeys(rule: DialogRule, lines: readonly string[]): string[] | undefined {
  if (rule.keys) return rule.keys;
  if (!rule.choose) return undefined;
  const wanted = new RegExp(rule.choose, "u");
  const option = parseOptions(lines).find((o) => wanted.test(o.label));
  if (!option) return undefined;
  return option.selected ? ["Enter"] : [String(option.number)];
}

/** A config section's `screens` override: `ready` replaces, `dialogs` and `blockers` replace by id or are added. */
export interface ScreenOverrides {
  ready?: ScreenMatch;
  working?: ScreenMatch;
  dialogs?: DialogRule[];
  blockers?: Array<{ id: string; match: ScreenMatch; detail: string }>;
  /** Live-state rules: `working`, `idle` and `debounceMs` replace, `blocked` replace by id or are added. */
  states?: StateRules;
}

/** Applies a config's screen overrides to a provider's built-in rules. */
export function withScreenOverrides<P extends Pick<AgentProvider, "ready" | "working" | "dialogs" | "blockers" | "states">>(rules: P, overrides: ScreenOverrides | undefined): P {
  if (!overrides) return rules;
  const byId = <T extends { id: string }>(base: T[] = [], extra: T[] = []) => [
    ...base.map((item) => extra.find((e) => e.id === item.id) ?? item),
    ...extra.filter((e) => !base.some((item) => item.id === e.id)),
  ];
  return {
    ...rules,
    ready: overrides.ready ?? rules.ready,
    ...(overrides.working ?? rules.working ? { working: overrides.working ?? rules.working } : {}),
    dialogs: byId(rules.dialogs, overrides.dialogs),
    blockers: byId(rules.blockers, overrides.blockers),
    ...(rules.states || overrides.states
      ? { states: { ...rules.states, ...overrides.states, blocked: byId(rules.states?.blocked, overrides.states?.blocked) } }
      : {}),
  };
}
