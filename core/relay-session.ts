import { errorMessage } from "./errors.js";
import type { OrchestratorHooks } from "./hooks.js";
import { Inbox, type InboxHost } from "./inbox.js";
import type { Journal } from "./journal.js";
import { GIT_SHA, PROTOCOL_VERSION, VERSION } from "./version.js";
import { RelayRequestError, type RelayTransport } from "./plugin.js";
import type { Logger } from "./logger.js";
import { sourceLabel, type ResolvedConfig } from "./config/schema.js";
import type { AgentReport, HeartbeatInfo } from "./types.js";

/**
 * What the relay session needs of the daemon (the orchestrator provides it;
 * this module does not know the orchestrator).
 */
export interface RelayHost extends InboxHost {
  readonly config: ResolvedConfig;
  readonly hooks: Pick<OrchestratorHooks, "onHeartbeat" | "onConnected">;
  readonly instanceId: string;
  /** The instance that ran with this id before, when known. */
  readonly previousInstanceId?: string;
  /** Ends the daemon for a reason it cannot recover from. */
  fail(err: Error): void;
  /** The agents as the relay should see them now. */
  report(): AgentReport[];
}

/**
 * The daemon's side of the relay conversation: register (again, whenever the
 * relay forgets us), heartbeat, poll, report; polled messages go to the
 * inbox, which handles each once, in order, and answers and acks it.
 *
 * The journal belongs to one relay epoch: when the relay announces another
 * one (its storage was lost, ids start over), the journal is reset. Ages are
 * measured on the relay's clock.
 */
export class RelaySession {
  private running = false;
  private connected = false;
  private needsRegister = true;
  private failures = 0;
  private readonly inbox: Inbox;
  private loop?: Promise<void>;
  private wake?: () => void;
  private heartbeatTimer?: NodeJS.Timeout;
  private reporting?: Promise<void>;
  private reportAgain = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly host: RelayHost,
    private readonly transport: RelayTransport,
    private readonly logger: Logger,
    private readonly journal: Journal,
    /** The journal was found damaged and set aside: history is unknown. */
    private journalLost = false,
  ) {
    this.inbox = new Inbox(host, transport, journal, logger);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Ends the loops, lets running controls finish (within a bound), then sends one last report. */
  async close(): Promise<void> {
    this.running = false;
    this.inbox.running = false;
    clearTimeout(this.heartbeatTimer);
    this.wake?.();
    this.transport.interrupt?.();
    await Promise.race([Promise.all([this.loop, this.inbox.idle()]), delay(this.host.config.requestTimeoutMs)]);
    if (this.connected) await this.reportNow();
  }

  /** Reports the agents soon; a burst of changes becomes one or two reports. */
  scheduleReport(): void {
    if (!this.connected) return; // the next registration reports
    void this.reportNow();
  }

  private async run(): Promise<void> {
    this.inbox.load();
    const { config } = this.host;
    while (this.running) {
      try {
        if (this.needsRegister) await this.register();
        // Before the poll, which may wait long: answers the relay missed while it was away go as soon as it is back.
        this.inbox.redeliver();
        const polledAt = Date.now();
        const messages = await this.transport.fetchMessages(this.inbox.pollAfter);
        if (this.epochChanged()) {
          this.startOver(`the relay's message sequence changed (epoch ${this.transport.epoch}); its ids start over`);
          continue;
        }
        const fresh = this.running ? this.inbox.take(messages) : 0;
        // A long-poll that came back at once with nothing new must not turn into a busy loop.
        const waited = this.transport.longPolling && (fresh > 0 || Date.now() - polledAt > 50);
        if (!waited) await this.sleep(this.transport.longPolling ? 100 : config.pollIntervalMs);
      } catch (err) {
        if (!this.running) break;
        if (err instanceof RelayRequestError && err.status === 409) {
          // Another live daemon has this id at the relay: retrying would only fight it.
          this.host.fail(new Error(`the relay refused this daemon: ${errorMessage(err)}`));
          break;
        }
        if (err instanceof RelayRequestError && (err.status === 401 || err.status === 403) && this.needsRegister) {
          // A wrong token does not fix itself: retrying forever would only hide it. The message names where it came from, never its value.
          const from = config.token ? `the token (from ${sourceLabel(config.sources.token)})` : "no token (none is configured)";
          this.host.fail(new Error(`the relay ${config.relayUrl} refused ${from} with HTTP ${err.status} at registration: set the relay's token (AGENT_RELAY_TOKEN, or token in the config)`));
          break;
        }
        if (this.connected || this.failures === 0) {
          this.logger.warn(`relay ${config.relayUrl} unavailable: ${errorMessage(err)}; retrying`);
        }
        this.connected = false;
        this.needsRegister = true;
        await this.sleep(backoff(this.failures++));
      }
    }
  }

  private async register(): Promise<void> {
    const { config } = this.host;
    const info: HeartbeatInfo = { kind: "register", meta: {} };
    await this.host.hooks.onHeartbeat.promise(info);
    await this.transport.register({
      id: config.id,
      hostname: config.hostname,
      providers: [...config.providers],
      baseDir: config.baseDir,
      envKeys: Object.keys(config.env),
      version: VERSION,
      protocolVersion: PROTOCOL_VERSION,
      ...(GIT_SHA ? { gitSha: GIT_SHA } : {}),
      sessionPrefix: config.tmuxPrefix,
      meta: {
        ...info.meta,
        pid: process.pid,
        instanceId: this.host.instanceId,
        ...(this.host.previousInstanceId ? { previousInstanceId: this.host.previousInstanceId } : {}),
        startedAt: this.startedAt,
        version: VERSION,
        protocolVersion: PROTOCOL_VERSION,
        ...(GIT_SHA ? { gitSha: GIT_SHA } : {}),
      },
    });
    const latest = await this.transport.latestMessageId().catch(() => undefined);
    if (this.transport.epoch !== undefined) {
      if (this.epochChanged()) this.startOver(`the relay's message sequence is new (epoch ${this.transport.epoch}, was ${this.journal.epoch}); it lost its data, starting over`);
      this.journal.setEpoch(this.transport.epoch);
    } else if (latest !== undefined && latest < this.inbox.cursor) {
      // A plain relay has no epoch: a reset is seen only when its newest id is below our cursor.
      this.startOver(`the relay's newest message id (${latest}) is below ours (${this.inbox.cursor}); it was reset, starting over`);
    }
    if (this.journalLost) {
      this.journalLost = false;
      this.inbox.lostUpTo = latest ?? Number.MAX_SAFE_INTEGER;
    }
    this.connected = true;
    this.needsRegister = false;
    this.failures = 0;
    const mode = this.transport.longPolling ? "long-poll" : `polling every ${config.pollIntervalMs} ms`;
    this.logger.info(`registered as ${config.id} (agent orchestrator-${config.id}) at ${config.relayUrl}; ${mode}`);
    this.scheduleHeartbeat();
    this.host.hooks.onConnected.promise({ id: config.id, relayUrl: config.relayUrl }).catch((err: unknown) => this.logger.warn(errorMessage(err)));
    await this.reportNow();
  }

  /** True when the relay announces an epoch other than the one the journal belongs to. */
  private epochChanged(): boolean {
    const { epoch } = this.transport;
    const known = this.journal.epoch;
    return epoch !== undefined && known !== undefined && epoch !== known;
  }

  private startOver(why: string): void {
    this.logger.warn(why);
    this.inbox.startOver(this.transport.epoch);
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    if (!this.running) return;
    this.heartbeatTimer = setTimeout(async () => {
      if (this.connected && !this.needsRegister) {
        try {
          const info: HeartbeatInfo = { kind: "heartbeat", meta: {} };
          await this.host.hooks.onHeartbeat.promise(info);
          await this.transport.heartbeat(info.meta);
        } catch (err) {
          if (err instanceof RelayRequestError && err.status === 404) {
            this.logger.info("the relay no longer knows this orchestrator; registering again");
            this.needsRegister = true;
            this.wake?.();
          } else {
            this.logger.warn(`heartbeat failed: ${errorMessage(err)}`);
          }
        }
      }
      this.scheduleHeartbeat();
    }, this.host.config.heartbeatIntervalMs);
    this.heartbeatTimer.unref?.();
  }

  private reportNow(): Promise<void> {
    if (this.reporting) {
      this.reportAgain = true;
      return this.reporting;
    }
    this.reporting = (async () => {
      do {
        this.reportAgain = false;
        try {
          await this.transport.report(this.host.report());
        } catch (err) {
          this.logger.warn(`could not report agents: ${errorMessage(err)}`);
          break;
        }
      } while (this.reportAgain && this.connected);
      this.reporting = undefined;
    })();
    return this.reporting;
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** 250 ms, doubling, at most 1.5 s, with ±20 % jitter: back within 2 s of the relay's return. */
function backoff(failures: number): number {
  const base = Math.min(250 * 2 ** failures, 1_500);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
