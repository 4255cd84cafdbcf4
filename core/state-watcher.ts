import { mkdirSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { EventFileTail, eventFilePath, parseEventLine } from "./agent-events.js";
import { errorMessage } from "./errors.js";
import type { OrchestratorHooks } from "./hooks.js";
import { stateFromStatus } from "./live-state.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { AgentProvider, StateRules } from "./provider.js";
import type { AgentRegistry } from "./registry.js";
import type { Secrets } from "./secrets.js";
import { DEFAULT_DEBOUNCE_MS, lastLinesOf, questionOf, readScreen, stateOfEvent, stateRulesOf, type ScreenReading } from "./state-rules.js";
import type { AgentEvent, AgentScreen, AgentState, AgentStateDetail, ManagedAgent } from "./types.js";

export interface StateWatcherHost {
  registry: AgentRegistry;
  backend(): AgentBackend;
  providers(): ReadonlyMap<string, AgentProvider>;
  hooks: Pick<OrchestratorHooks, "onAgentState" | "onAgentEvent">;
  secrets: Secrets;
  logger: Logger;
  stateDir: string;
  tickMs: number;
  /** The tick while every watched agent is idle and has events of its own (an event wakes the watcher at once). */
  idleTickMs: number;
  disagreeMs: number;
  stuckAfterMs: number;
  /** Tells the relay about the agents (coalesced). */
  report(): void;
}

/** What the watcher knows of one agent's current start. */
interface Tracked {
  agent: ManagedAgent;
  rules?: StateRules;
  tail?: EventFileTail;
  /** The screen as last seen, and when it last changed. */
  screenKey?: string;
  screenChangedAt: number;
  /** When the screen was last looked at. */
  lookedAt: number;
  lines: string[];
  /** A screen state seen but not yet held for the debounce time. */
  candidate?: { reading: ScreenReading; since: number };
  /** The screen state that held. */
  screen?: ScreenReading;
  /** The state the agent's last event moved it to, until its screen confirms or outlasts it. */
  event?: { state: AgentState; at: number; disagreeSince?: number };
  /** Taps of `onAgentState` run in order per agent. */
  told: Promise<void>;
}

/** How long a `blocked` event waits for its question to show on the screen before it counts without one. */
const QUESTION_WAIT_MS = 1_000;
/** Events files are read this often even when no change notice came (a safety net for fs.watch). */
const EVENT_SAFETY_MS = 5_000;

/**
 * Keeps every agent's live state (`AgentState`): what its status implies
 * (starting, stopping, exited, stuck at start), and for a running agent what
 * its screen and its own events say. Every `tickMs`, one backend call reads
 * the screens of all running agents with state rules; an agent's events are
 * read as soon as its event file changes. An event moves the state at once;
 * a screen state counts once it held for the provider's debounce time; when
 * the two disagree for longer than `disagreeMs`, the screen wins, with one
 * log line naming both. `working` with a screen that does not change for
 * `stuckAfterMs` becomes `stuck` until the screen moves.
 */
export class StateWatcher {
  private readonly tracked = new Map<string, Tracked>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private running = false;
  private fsWatcher?: FSWatcher;
  private eventsReadAt = 0;
  private eventsTimer?: NodeJS.Timeout;
  private eventsAll = false;
  private readonly eventsFor = new Set<string>();
  private readonly startedAt = Date.now();

  constructor(private readonly host: StateWatcherHost) {}

  start(): void {
    this.running = true;
    const dir = dirname(eventFilePath(this.host.stateDir, "x"));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // One watcher for every agent's event file; the tick reads them anyway.
      this.fsWatcher = watch(dir, (_event, name) => this.eventsSoon(typeof name === "string" ? name : undefined));
      this.fsWatcher.on("error", (err) => this.host.logger.warn(`watching ${dir}: ${err.message}`));
    } catch (err) {
      this.host.logger.warn(`cannot watch agent events in ${dir} (${errorMessage(err)}): reading them every ${EVENT_SAFETY_MS / 1000} s`);
    }
    this.schedule(this.host.tickMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.eventsTimer);
    this.fsWatcher?.close();
    await this.ticking;
  }

  /** Records the states agents' statuses imply (a start, a stop, an exit) at once; no I/O. */
  sync(): void {
    let changed = false;
    for (const agent of this.host.registry.values()) {
      const implied = stateFromStatus(agent);
      if (implied !== undefined && agent.live?.state !== implied) {
        this.move(this.trackedFor(agent), implied, { ...(agent.detail !== undefined && implied !== "starting" ? { detail: agent.detail } : {}) }, "screen", false);
        changed = true;
      }
    }
    for (const [session, t] of this.tracked) if (this.host.registry.get(session) !== t.agent) this.tracked.delete(session);
    if (changed) this.host.report();
  }

  /**
   * An event file changed: read it at once (no screen is looked at: that
   * waits for the tick). Changes within a few ms are read together.
   */
  private eventsSoon(file: string | undefined): void {
    if (!this.running) return;
    const session = file?.endsWith(".jsonl") ? file.slice(0, -".jsonl".length) : undefined;
    if (session === undefined) this.eventsAll = true;
    else this.eventsFor.add(session);
    if (this.eventsTimer) return;
    this.eventsTimer = setTimeout(() => {
      this.eventsTimer = undefined;
      const all = this.eventsAll;
      const sessions = [...this.eventsFor];
      this.eventsAll = false;
      this.eventsFor.clear();
      const agents = all ? this.host.registry.values() : sessions.flatMap((s) => this.host.registry.get(s) ?? []);
      let changed = false;
      for (const agent of agents) changed = this.readEvents(agent) || changed;
      if (changed) this.host.report();
      // An event's state wants its screen's confirmation soon: back to the full tick.
      if (changed && !this.ticking) this.schedule(this.host.tickMs);
    }, 5);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick()
        .catch((err) => this.host.logger.warn(`state watcher: ${errorMessage(err)}`))
        .finally(() => {
          this.ticking = undefined;
          this.schedule(this.nextDelay());
        });
    }, delayMs);
  }

  /**
   * The full tick while any agent works, starts, is blocked, has an event its
   * screen has not confirmed, or tells nothing itself (its screen is all
   * there is); the idle tick while every agent is idle and reports its own
   * events (the next one wakes the watcher); sooner when a screen state waits
   * for its debounce to pass.
   */
  private nextDelay(): number {
    const quiet = [...this.host.registry.values()].every((agent) => {
      const t = this.tracked.get(agent.session);
      if (agent.status !== "ready") return agent.status !== "starting" && agent.status !== "stopping";
      const startsTurns = this.fsWatcher !== undefined && this.host.providers().get(agent.provider)?.eventsStartTurns === true;
      return startsTurns && t?.tail !== undefined && !t.event && agent.live?.state === "idle";
    });
    let delay = quiet ? this.host.idleTickMs : this.host.tickMs;
    const now = Date.now();
    for (const t of this.tracked.values()) {
      if (t.candidate) delay = Math.min(delay, Math.max(10, t.candidate.since + debounceOf(t.rules) - now));
    }
    return delay;
  }

  private async tick(): Promise<void> {
    this.sync();
    const now = Date.now();
    let changed = false;
    if (now - this.eventsReadAt >= EVENT_SAFETY_MS) {
      this.eventsReadAt = now;
      for (const agent of this.host.registry.values()) changed = this.readEvents(agent) || changed;
    }
    const watched = this.host.registry.values().filter((a) => a.status === "ready" && stateRulesOf(this.host.providers().get(a.provider)));
    const screens = watched.length > 0 ? await this.host.backend().screens(watched.map((a) => a.session)) : new Map<string, AgentScreen>();
    for (const agent of watched) {
      const screen = screens.get(agent.session);
      if (!screen || screen.dead || this.host.registry.get(agent.session) !== agent || agent.status !== "ready") continue;
      changed = this.look(this.trackedFor(agent), screen.lines, Date.now()) || changed;
    }
    if (changed) this.host.report();
  }

  private trackedFor(agent: ManagedAgent): Tracked {
    let t = this.tracked.get(agent.session);
    if (!t || t.agent !== agent) {
      const provider = this.host.providers().get(agent.provider);
      t = { agent, screenChangedAt: Date.now(), lookedAt: 0, lines: [], told: Promise.resolve() };
      const rules = stateRulesOf(provider);
      if (rules) t.rules = rules;
      if (provider?.events) {
        t.tail = new EventFileTail(eventFilePath(this.host.stateDir, agent.session));
        // An agent this daemon took over: what its file holds happened before.
        if (agent.startedAt < this.startedAt) t.tail.skipToEnd();
      }
      this.tracked.set(agent.session, t);
    }
    return t;
  }

  /** Reads an agent's new events: each is told to `onAgentEvent`, and moves a running agent's state at once. */
  private readEvents(agent: ManagedAgent): boolean {
    if (agent.status !== "ready" && agent.status !== "starting") return false;
    const t = this.trackedFor(agent);
    if (!t.tail) return false;
    let changed = false;
    const bad: string[] = [];
    for (const line of t.tail.read()) {
      const parsed = typeof line === "string" ? parseEventLine(line) : { error: `a line of ${line.tooLong} characters or more` };
      if (parsed === undefined) continue;
      if ("error" in parsed) {
        bad.push(parsed.error);
        continue;
      }
      const event: AgentEvent = this.host.secrets.redactDeep(parsed);
      this.host.hooks.onAgentEvent.promise({ ...agent, meta: { ...agent.meta } }, event).catch((err) => this.host.logger.warn(errorMessage(err)));
      this.host.logger.debug(`${agent.session}: event ${event.kind} (${agent.status})`);
      const to = stateOfEvent(event);
      if (to === undefined) continue;
      t.event = { state: to, at: Date.now() };
      if (agent.status === "ready") changed = this.fuse(t, Date.now()) || changed;
    }
    // One line per look, however many: the file is the agent's to write, and may be hostile.
    if (bad.length > 0) this.host.logger.warn(`${agent.session}: ignored ${bad.length} bad line(s) in its event file (first: ${bad[0]})`);
    return changed;
  }

  /** One look at an agent's screen: debounce, then fuse with its events. */
  private look(t: Tracked, lines: string[], now: number): boolean {
    const key = lines.join("\n");
    if (key !== t.screenKey) {
      t.screenKey = key;
      t.screenChangedAt = now;
    }
    t.lines = lines;
    t.lookedAt = now;
    const reading = t.rules ? readScreen(lines, t.rules) : undefined;
    if (reading && t.screen && sameReading(t.screen, reading)) {
      t.candidate = undefined; // the state that held, still (a flicker away and back is no change)
    } else if (reading) {
      const same = t.candidate && sameReading(t.candidate.reading, reading);
      if (!same) t.candidate = { reading, since: now };
      if (now - t.candidate!.since >= debounceOf(t.rules)) {
        t.screen = reading;
        t.candidate = undefined;
      }
    } else t.candidate = undefined;
    return this.fuse(t, now);
  }

  /** Decides a running agent's state from its screen state, its last event and the stall rule; moves it when that differs. */
  private fuse(t: Tracked, now: number): boolean {
    const { agent } = t;
    let to: AgentState | undefined;
    let detail: AgentStateDetail = {};
    let source: "event" | "screen" = "screen";
    let confirmed: AgentState | undefined;
    // Only a look taken after the event can confirm it, and only with no other screen state pending.
    if (t.event && t.screen && t.screen.state === t.event.state && t.lookedAt >= t.event.at && !t.candidate) {
      confirmed = t.event.state; // the screen confirms: the event said it first
      t.event = undefined;
    } else if (t.event && t.screen && t.screen.state !== t.event.state) {
      t.event.disagreeSince ??= now;
      if (now - t.event.disagreeSince >= this.host.disagreeMs) {
        this.host.logger.warn(
          `${agent.session}: its events say ${t.event.state} but its screen says ${t.screen.state} for ${Math.round((now - t.event.disagreeSince) / 1000)} s; going by the screen (a CLI change?)`,
        );
        t.event = undefined;
      }
    }
    if (t.event || confirmed) {
      to = t.event?.state ?? confirmed!;
      source = "event";
      if (to === "blocked") detail = questionOf(t.lines, (t.rules?.blocked ?? []).map((b) => b.question));
    } else if (t.screen) {
      to = t.screen.state;
      if (to === "blocked") detail = { ...(t.screen.question !== undefined ? { question: t.screen.question } : {}), options: t.screen.options ?? [] };
    }
    if (to === undefined) return false;
    // A permission request comes as its prompt appears: wait a moment for the question to be on screen.
    if (to === "blocked" && source === "event" && detail.question === undefined && t.event && now - t.event.at < QUESTION_WAIT_MS) return false;
    const stalled = to === "working" && this.host.stuckAfterMs > 0 && now - t.screenChangedAt >= this.host.stuckAfterMs;
    if (stalled) {
      const minutes = (now - t.screenChangedAt) / 60_000;
      to = "stuck";
      detail = { detail: `no screen change for ${minutes >= 1 ? `${Math.round(minutes)} min` : `${Math.round(minutes * 60)} s`}` };
    }
    const live = agent.live;
    if (live?.state === to && (to !== "blocked" || (live.question === detail.question && sameList(live.options, detail.options)))) return false;
    this.move(t, to, detail, source, live?.state === to);
    return true;
  }

  /**
   * Records a new state and tells `onAgentState` (not awaited: a slow tap
   * never delays watching). `quiet`: the same state with a new question
   * (another prompt): recorded, not told.
   */
  private move(t: Tracked, to: AgentState, detail: AgentStateDetail, source: "event" | "screen", quiet: boolean): void {
    const { agent } = t;
    const from = agent.live?.state ?? "starting";
    const full: AgentStateDetail = this.host.secrets.redactDeep({
      ...detail,
      ...(t.lines.length > 0 ? { lastLines: lastLinesOf(t.lines) } : {}),
      source,
    });
    agent.live = { state: to, since: agent.live?.state === to ? agent.live.since : Date.now(), ...full };
    if (quiet || from === to) return;
    const blocked = to === "blocked" ? `: ${full.question ?? "?"} [${(full.options ?? []).join(" | ")}]` : full.detail ? `: ${full.detail}` : "";
    this.host.logger.debug(`${agent.session}: ${from} → ${to} (by its ${source})${blocked}`);
    const copy = { ...agent, meta: { ...agent.meta } };
    t.told = t.told
      .then(() => this.host.hooks.onAgentState.promise(copy, from, to, full))
      .catch((err) => this.host.logger.warn(errorMessage(err)));
  }
}

function debounceOf(rules: StateRules | undefined): number {
  return rules?.debounceMs ?? DEFAULT_DEBOUNCE_MS;
}

function sameReading(a: ScreenReading, b: ScreenReading): boolean {
  return a.state === b.state && a.question === b.question && sameList(a.options, b.options);
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return (a ?? []).join("\n") === (b ?? []).join("\n");
}
