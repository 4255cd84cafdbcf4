import { errorMessage } from "./errors.js";
import type { ExitWatcher } from "./exit-watcher.js";
import type { Journal } from "./journal.js";
import type { Logger } from "./logger.js";
import type { AgentProvider } from "./provider.js";
import type { AgentRegistry } from "./registry.js";
import type { StartupOutcome, StartupWatcher } from "./startup.js";
import type { AgentExit, ManagedAgent } from "./types.js";

/** What following an agent's start-up needs of the daemon. */
export interface StartsHost {
  registry: AgentRegistry;
  startup: StartupWatcher;
  exits: ExitWatcher;
  logger: Logger;
  startTimeoutMs: number;
  providers(): ReadonlyMap<string, AgentProvider>;
  /** The message journal, once the daemon has opened it. */
  journal(): Journal | undefined;
  changed(): void;
}

/**
 * The start-ups being followed, by session: each one's outcome is recorded
 * on the (live) agent record, a spawn of a starting agent waits for the same
 * outcome, and whether a typed prompt was delivered is journalled.
 */
export class Starts {
  /** Start-ups being watched, by session. */
  private readonly starting = new Map<string, Promise<StartupOutcome>>();

  constructor(private readonly host: StartsHost) {}

  /** The outcome of a session's start-up that is still being watched, if any. */
  outcomeOf(session: string): Promise<StartupOutcome> | undefined {
    return this.starting.get(session);
  }

  /** Watches an agent's start-up and records the outcome on the (live) agent record. */
  watch(agent: ManagedAgent, prompt: string | undefined): Promise<StartupOutcome> {
    const { registry, logger } = this.host;
    const provider = this.host.providers().get(agent.provider);
    if (!provider) {
      // A launcher without screen rules: the process running is all we can know.
      agent.status = "ready";
      agent.readyAt = Date.now();
      return Promise.resolve({ status: "ready", readyAt: agent.readyAt });
    }
    const timeoutMs = provider.startTimeoutMs ?? this.host.startTimeoutMs;
    // Each answered dialog shows as the starting agent's detail: a client (`spawn`) can show it as progress.
    const onDialog = (id: string) => {
      if (registry.get(agent.session) !== agent || agent.status !== "starting") return;
      agent.detail = `answered dialog "${id}"`;
      this.host.changed();
    };
    const watched = this.host.startup.watch(agent.session, provider, prompt, timeoutMs, onDialog).then(async (outcome) => {
      if (this.starting.get(agent.session) === watched) this.starting.delete(agent.session);
      if (registry.get(agent.session) !== agent || agent.status === "stopping") return outcome;
      if (outcome.status === "ready") {
        if (prompt !== undefined && provider.prompt?.delivery === "type") this.recordPrompt(agent.session, agent.startedAt, true);
        agent.status = "ready";
        agent.readyAt = outcome.readyAt;
        if (agent.detail?.startsWith("answered dialog")) delete agent.detail; // start-up progress, done
        logger.info(`${agent.session} is ready (${outcome.readyAt - agent.startedAt} ms)`);
      } else {
        if (outcome.status === "exited") {
          const exit: AgentExit = { lastLines: outcome.lastLines, ...(outcome.code !== undefined ? { code: outcome.code } : {}) };
          return (await this.host.exits.exited(agent, exit, outcome.detail), outcome);
        }
        agent.status = outcome.status;
        agent.detail = outcome.detail;
        agent.lastLines = outcome.lastLines;
        logger.warn(`${agent.session} ${outcome.detail}`);
      }
      this.host.changed();
      return outcome;
    });
    this.starting.set(agent.session, watched);
    return watched;
  }

  /** Journals whether the prompt of one start of a session was typed, so a crash in between does not lose it. */
  recordPrompt(session: string, startedAt: number, delivered: boolean): void {
    const journal = this.host.journal();
    try {
      if (delivered) journal?.promptDelivered(session, startedAt);
      else journal?.promptPending(session, startedAt);
    } catch (err) {
      this.host.logger.error(`could not record in the journal whether the prompt of ${session} was typed: ${errorMessage(err)}`);
    }
  }

  /** Whether the journal says this start of a session never got its typed prompt. */
  promptUndelivered(session: string, startedAt: number): boolean {
    return this.host.journal()?.promptUndelivered(session, startedAt) === true;
  }
}
