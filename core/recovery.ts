import type { ResolvedConfig } from "./config/schema.js";
import type { ExitWatcher } from "./exit-watcher.js";
import { Journal } from "./journal.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { AgentProvider } from "./provider.js";
import { agentFromSession, type AgentRegistry } from "./registry.js";
import type { Starts } from "./starts.js";

/** What taking over running agents at start-up needs of the daemon. */
export interface RecoveryHost {
  config: ResolvedConfig;
  backend: AgentBackend;
  registry: AgentRegistry;
  exits: ExitWatcher;
  starts: Starts;
  providers: ReadonlyMap<string, AgentProvider>;
  logger: Logger;
}

/**
 * What a daemon takes over when it starts: its message journal, and the
 * agents it started before (they outlive daemon restarts).
 */

/**
 * Takes over the sessions this orchestrator started before it restarted, and
 * checks each one's screen again: an ended one is recorded as exited, a live
 * one is watched until it is ready (its prompt typed if it never was).
 */
export async function recoverAgents(host: RecoveryHost): Promise<void> {
  const { registry, logger } = host;
  const sessions = await host.backend.list();
  let count = 0;
  for (const session of sessions) {
    const found = agentFromSession(session, host.config);
    if (!found) continue;
    const { agent, byName } = found;
    if (byName) logger.warn(`recovered ${session.name} by its name (no metadata; started by 0.9.0?)`);
    registry.set(agent);
    if (session.dead) {
      await host.exits.reap(agent, session);
      continue;
    }
    if (host.providers.has(agent.provider)) {
      agent.status = "starting";
      // A prompt is typed again only when the journal says this start never got it: never twice.
      const undelivered = agent.prompt !== undefined && host.starts.promptUndelivered(session.name, agent.startedAt);
      if (undelivered) logger.info(`${session.name}: its prompt was not typed before the daemon stopped; typing it once it is ready`);
      void host.starts.watch(agent, undelivered ? agent.prompt : undefined);
    }
    count++;
  }
  if (count > 0) logger.info(`recovered ${count} running agent(s)`);
}

/**
 * Opens the message journal in the state folder; a damaged one is kept
 * aside, loudly, and `lost` says so (the relay session then treats unread
 * messages as possible replays). Throws, naming the cause, when the state
 * folder cannot hold it.
 */
export function openJournal(config: ResolvedConfig, logger: Logger): { journal: Journal; lost: boolean } {
  const journal = new Journal(config.stateDir, config.id);
  const opened = journal.open();
  if (opened.corrupt) {
    logger.error(
      `the journal was damaged (${opened.corrupt.reason}) and is kept aside as ${opened.corrupt.keptAs}: ` +
        "which messages were handled, their undelivered answers and typed-prompt records are lost; " +
        "messages the relay has not marked read are handled again as possible replays",
    );
  }
  if (opened.migrated) logger.info(`took over the state file ${opened.migrated} into ${journal.path}`);
  return { journal, lost: opened.corrupt !== undefined };
}
