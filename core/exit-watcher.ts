import { errorMessage } from "./errors.js";
import type { AgentLocks } from "./lock.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { AgentRegistry } from "./registry.js";
import type { OrchestratorHooks } from "./hooks.js";
import type { AgentExit, BackendSession, ManagedAgent } from "./types.js";

export interface ExitWatcherHost {
  backend: () => AgentBackend;
  registry: AgentRegistry;
  locks: AgentLocks;
  logger: Logger;
  intervalMs: number;
  retentionMs: number;
  hooks: Pick<OrchestratorHooks, "onAgentExit">;
  changed(): void;
}

/**
 * Notices agents that end: one look at every session (one backend call)
 * every `intervalMs`, and at once when the backend says an agent ended.
 * Also forgets exited agents after the retention time. The one place an
 * agent is recorded as ended on its own, and `onAgentExit` fires.
 */
export class ExitWatcher {
  private timer?: NodeJS.Timeout;
  private looking?: Promise<void>;
  private again = false;
  private running = false;

  constructor(private readonly host: ExitWatcherHost) {}

  start(): void {
    this.running = true;
    this.host.backend().onExit?.(() => this.lookNow());
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.looking;
  }

  /**
   * An agent ended: look in a moment (its pane dies just after the notice),
   * and once more shortly after, in case the first look came too early.
   */
  lookNow(): void {
    if (!this.running) return;
    this.again = true;
    if (!this.looking) this.schedule(50);
  }

  async lookOnce(): Promise<void> {
    const { registry, locks } = this.host;
    const backend = this.host.backend();
    const pruned = registry.prune(Date.now(), this.host.retentionMs);
    for (const agent of pruned) {
      const outcome = await backend.stop(agent.session).catch(() => undefined);
      const left = outcome?.leftovers.map((p) => `${p.pid} (${p.name})`).join(", ");
      if (left) this.host.logger.error(`${agent.session}: process(es) still alive after SIGKILL: ${left}`);
    }
    if (pruned.length > 0) this.host.changed();
    const watched = registry.values().filter((a) => a.status === "ready" || a.status === "stuck");
    if (watched.length === 0) return;
    const sessions = new Map((await backend.list()).map((s) => [s.name, s]));
    for (const agent of watched) {
      if (locks.busy(agent.session)) continue;
      const session = sessions.get(agent.session);
      if (session && !session.dead) continue;
      await locks.run(agent.session, async () => {
        if (registry.get(agent.session) !== agent || agent.status === "stopping") return;
        await this.reap(agent, session);
      });
    }
  }

  /**
   * Records how an agent ended. It stays reported as `exited` for
   * `exitedRetentionMs`, and so does its dead session: a daemon restarted
   * meanwhile finds it again (and a restart policy still applies).
   */
  async reap(agent: ManagedAgent, session: BackendSession | undefined): Promise<void> {
    const exit: AgentExit = { lastLines: [] };
    if (session?.exitCode !== undefined) exit.code = session.exitCode;
    if (session) exit.lastLines = (await this.host.backend().capture(session.name, 20).catch(() => [])).filter((l) => l.trim() !== "");
    const code = exit.code === undefined ? "an unknown status" : `status ${exit.code}`;
    const tail = exit.lastLines.slice(-3).join(" | ");
    await this.exited(agent, exit, `exited with ${code}${session ? "" : " (its session vanished)"}${tail ? `: ${tail}` : ""}`);
  }

  /** The one place an agent is recorded as ended on its own, and `onAgentExit` fires. */
  async exited(agent: ManagedAgent, exit: AgentExit, detail: string): Promise<void> {
    agent.status = "exited";
    agent.exitedAt = Date.now();
    agent.detail = detail;
    agent.lastLines = exit.lastLines;
    if (exit.code !== undefined) agent.exitCode = exit.code;
    this.host.logger.warn(`agent ${agent.session} ${agent.detail}`);
    try {
      await this.host.hooks.onAgentExit.promise({ ...agent }, exit);
    } catch (err) {
      this.host.logger.warn(errorMessage(err));
    }
    this.host.changed();
  }

  private schedule(delayMs = this.host.intervalMs): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.looking = this.lookOnce()
        .catch((err) => this.host.logger.warn(`exit watcher: ${errorMessage(err)}`))
        .finally(() => {
          this.looking = undefined;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 250 : this.host.intervalMs);
        });
    }, delayMs);
  }
}
