import { DEFAULT_PROVIDER, extractControl, sessionNameFor, spawnLabel } from "./control.js";
import { ControlError, errorMessage } from "./errors.js";
import { KeyedLock } from "./lock.js";
import type { Journal } from "./journal.js";
import { Outbox } from "./outbox.js";
import { GIT_SHA, PROTOCOL_VERSION, VERSION } from "./version.js";
import { RelayRequestError, type RelayTransport } from "./plugin.js";
import type { Logger } from "./logger.js";
import type { Orchestrator } from "./orchestrator.js";
import type { ControlPayload, ControlResult, HeartbeatInfo, RelayMessage } from "./types.js";

/** Transient failures are tried again this many times, with backoff from 500 ms. */
const RETRIES = 3;

/**
 * The daemon's side of the relay conversation: register (again, whenever the
 * relay forgets us), heartbeat, poll, dispatch, answer, acknowledge, report.
 *
 * Each message is journalled (started, then done with its answer) before
 * it is acknowledged, so a message the relay delivers twice (a lost ack, a
 * replay, a daemon killed between the effect and the ack) has its effect
 * once, and an answer or ack the relay did not confirm is sent again until it
 * does, across restarts. Messages for the same agent run in the order they
 * came, a control for every agent after every earlier one and before every
 * later one; others run in parallel.
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
  private cursor = 0;
  private highestDone = 0;
  /** The newest message id taken up in this process. */
  private highestSeen = 0;
  /** Messages whose handling began before this process (it crashed meanwhile). */
  private interrupted = new Set<number>();
  /** After a journal was lost: messages up to this id may have had their effect already. */
  private lostUpTo = 0;
  private readonly inflight = new Map<number, Promise<void>>();
  /** The in-flight controls for every agent (key `*`). */
  private readonly forAll = new Map<number, Promise<void>>();
  private readonly order = new KeyedLock();
  private readonly outbox: Outbox;
  /** Session names of spawns not yet done, and their labels. */
  private readonly spawning = new Map<string, string>();
  private loop?: Promise<void>;
  private wake?: () => void;
  private heartbeatTimer?: NodeJS.Timeout;
  private reporting?: Promise<void>;
  private reportAgain = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly orchestrator: Orchestrator,
    private readonly transport: RelayTransport,
    private readonly logger: Logger,
    private readonly journal: Journal,
    /** The journal was found damaged and set aside: history is unknown. */
    private journalLost = false,
  ) {
    this.outbox = new Outbox(journal, transport, logger);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Ends the loops, lets running controls finish (within a bound), then sends one last report. */
  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.heartbeatTimer);
    this.wake?.();
    this.transport.interrupt?.();
    await Promise.race([Promise.all([this.loop, ...this.inflight.values()]), delay(this.orchestrator.config.requestTimeoutMs)]);
    if (this.connected) await this.reportNow();
  }

  /** Reports the agents soon; a burst of changes becomes one or two reports. */
  scheduleReport(): void {
    if (!this.connected) return; // the next registration reports
    void this.reportNow();
  }

  private async run(): Promise<void> {
    this.cursor = this.highestDone = this.journal.cursor;
    this.interrupted = new Set(this.journal.entries().filter((e) => e.state === "started").map((e) => e.id));
    const { config } = this.orchestrator;
    while (this.running) {
      try {
        if (this.needsRegister) await this.register();
        // Before the poll, which may wait long: answers the relay missed while it was away go as soon as it is back.
        this.outbox.redeliver((id) => this.inflight.has(id));
        const polledAt = Date.now();
        // Messages being handled are not asked for again (they stay unread until acknowledged).
        const messages = await this.transport.fetchMessages(Math.max(this.cursor, this.highestSeen));
        if (this.epochChanged()) {
          this.startOver(`the relay's message sequence changed (epoch ${this.transport.epoch}); its ids start over`);
          continue;
        }
        let fresh = 0;
        for (const message of [...messages].sort((a, b) => a.id - b.id)) {
          if (!this.running) break;
          if (this.enqueue(message)) fresh++;
        }
        // A long-poll that came back at once with nothing new must not turn into a busy loop.
        const waited = this.transport.longPolling && (fresh > 0 || Date.now() - polledAt > 50);
        if (!waited) await this.sleep(this.transport.longPolling ? 100 : config.pollIntervalMs);
      } catch (err) {
        if (!this.running) break;
        if (err instanceof RelayRequestError && err.status === 409) {
          // Another live daemon has this id at the relay: retrying would only fight it.
          this.orchestrator.fail(new Error(`the relay refused this daemon: ${errorMessage(err)}`));
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
    const { config } = this.orchestrator;
    const info: HeartbeatInfo = { kind: "register", meta: {} };
    await this.orchestrator.hooks.onHeartbeat.promise(info);
    await this.transport.register({
      id: config.id,
      hostname: config.hostname,
      providers: [...config.providers],
      baseDir: config.baseDir,
      envKeys: Object.keys(config.env),
      version: VERSION,
      protocolVersion: PROTOCOL_VERSION,
      ...(GIT_SHA ? { gitSha: GIT_SHA } : {}),
      meta: {
        ...info.meta,
        pid: process.pid,
        instanceId: this.orchestrator.instanceId,
        ...(this.orchestrator.lock.previousInstanceId ? { previousInstanceId: this.orchestrator.lock.previousInstanceId } : {}),
        tmuxPrefix: config.tmuxPrefix,
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
    } else if (latest !== undefined && latest < this.cursor) {
      // A plain relay has no epoch: a reset is seen only when its newest id is below our cursor.
      this.startOver(`the relay's newest message id (${latest}) is below ours (${this.cursor}); it was reset, starting over`);
    }
    if (this.journalLost) {
      this.journalLost = false;
      this.lostUpTo = latest ?? Number.MAX_SAFE_INTEGER;
    }
    this.connected = true;
    this.needsRegister = false;
    this.failures = 0;
    const mode = this.transport.longPolling ? "long-poll" : `polling every ${config.pollIntervalMs} ms`;
    this.logger.info(`registered as ${config.id} (agent orchestrator-${config.id}) at ${config.relayUrl}; ${mode}`);
    this.scheduleHeartbeat();
    await this.reportNow();
  }

  /** True when the relay announces an epoch other than the one the journal belongs to. */
  private epochChanged(): boolean {
    const { epoch } = this.transport;
    const known = this.journal.epoch;
    return epoch !== undefined && known !== undefined && epoch !== known;
  }

  /** The relay's ids start over: so does the journal (in-flight messages finish, under their old ids). */
  private startOver(why: string): void {
    this.logger.warn(why);
    this.cursor = this.highestDone = this.highestSeen = 0;
    this.interrupted.clear();
    this.outbox.clear();
    try {
      this.journal.reset();
      if (this.transport.epoch !== undefined) this.journal.setEpoch(this.transport.epoch);
    } catch (err) {
      this.logger.error(`could not reset the journal ${this.journal.path}: ${errorMessage(err)}`);
    }
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    if (!this.running) return;
    this.heartbeatTimer = setTimeout(async () => {
      if (this.connected && !this.needsRegister) {
        try {
          await this.orchestrator.hooks.onHeartbeat.promise({ kind: "heartbeat", meta: {} });
          await this.transport.heartbeat();
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
    }, this.orchestrator.config.heartbeatIntervalMs);
    this.heartbeatTimer.unref?.();
  }

  /** Starts handling a message unless it is being handled already; true when it was new. */
  private enqueue(message: RelayMessage): boolean {
    if (!Number.isSafeInteger(message.id) || this.inflight.has(message.id)) return false;
    this.highestSeen = Math.max(this.highestSeen, message.id);
    const key = this.keyOf(message);
    // A control for every agent waits for the controls that came before it; any later control waits for it.
    const before = key === "*" ? [...this.inflight.values()] : [...this.forAll.values()];
    const task = this.order
      .run(key, async () => {
        await Promise.all(before);
        return this.process(message);
      })
      // The ack is outside the agent's turn: a slow relay holds up no later control.
      .then((handled) => (handled ? this.outbox.deliver(message.id, handled.result) : undefined))
      .catch((err: unknown) => this.logger.warn(`message ${message.id}: ${errorMessage(err)}`))
      .finally(() => {
        this.inflight.delete(message.id);
        this.forAll.delete(message.id);
        if (this.inflight.size === 0) this.spawning.clear();
        void this.advanceCursor(message.id);
      });
    this.inflight.set(message.id, task);
    if (key === "*") this.forAll.set(message.id, task);
    return true;
  }

  /**
   * The agent a control is about, by label: controls with the same key run
   * one after another, in the order they came. A target given as a session
   * name or agentId is turned into the label of the agent it names, among
   * running agents and spawns still on their way.
   */
  private keyOf(message: RelayMessage): string {
    let control: ControlPayload | undefined;
    try {
      control = extractControl(message);
    } catch {
      control = undefined;
    }
    if (!control) return `message-${message.id}`;
    const { config } = this.orchestrator;
    if (control.action === "spawn") {
      const label = spawnLabel(control, toMillis(message.createdAt))!;
      this.spawning.set(sessionNameFor(config.tmuxPrefix, control.provider ?? DEFAULT_PROVIDER, label), label);
      return `label:${label}`;
    }
    if (!control.agentId) return "*";
    const target = control.agentId;
    const label = this.orchestrator.findAgents(target)[0]?.label ?? this.spawning.get(target) ?? target;
    return `label:${label}`;
  }

  /** The cursor moves past a message once it and every message before it are done. */
  private async advanceCursor(doneId: number): Promise<void> {
    this.highestDone = Math.max(this.highestDone, doneId);
    const pending = [...this.inflight.keys()];
    const next = pending.length > 0 ? Math.min(this.highestDone, Math.min(...pending) - 1) : this.highestDone;
    if (next <= this.cursor) return;
    this.cursor = next;
    this.outbox.write(() => this.journal.setCursor(this.cursor));
  }

  /**
   * Handles one message at most once and records that (with its answer);
   * resolves with the answer to deliver, or undefined when the message is
   * left for the relay to deliver again. A message done already is only
   * answered and acknowledged again (the relay keeps the first answer).
   */
  private async process(message: RelayMessage): Promise<{ result: ControlResult | undefined } | undefined> {
    const known = this.outbox.handled(message.id);
    if (known === null) return undefined; // the journal cannot be read: left unread for later
    if (known) {
      this.logger.debug(`message ${message.id} was handled already; answering and acknowledging it again`);
      return known;
    }
    const result = await this.resultFor(message);
    if (result) this.log(message, result);
    return (await this.outbox.recordDone(message.id, result)) ? { result } : undefined;
  }

  private async resultFor(message: RelayMessage): Promise<ControlResult | undefined> {
    let control;
    try {
      control = extractControl(message);
    } catch (err) {
      const code = err instanceof ControlError ? err.code : "invalid";
      return { ok: false, action: "unknown", code, error: errorMessage(err) };
    }
    if (!control) {
      if (message.kind === "control") {
        return { ok: false, action: "unknown", code: "invalid", error: "control message without a control payload" };
      }
      this.logger.debug(`message ${message.id} is not a control (kind ${String(message.kind)}); acknowledged`);
      return undefined;
    }
    // The relay stamps createdAt on its clock: ages are measured on that clock too.
    const createdAt = toMillis(message.createdAt);
    const offset = this.transport.clockOffsetMs ?? 0;
    const createdAtLocal = createdAt - offset;
    const age = Date.now() - createdAtLocal;
    if (message.createdAt !== undefined && age > this.orchestrator.config.maxMessageAgeMs) {
      return {
        ok: false,
        action: control.action,
        code: "expired",
        error: `control expired: sent ${Math.round(age / 1000)}s ago, limit ${Math.round(this.orchestrator.config.maxMessageAgeMs / 1000)}s`,
      };
    }
    const replay = this.interrupted.has(message.id) || message.id <= this.lostUpTo;
    if (!this.outbox.write(() => this.journal.started(message.id))) {
      return { ok: false, action: control.action, code: "journal", error: `not run: the daemon cannot write its journal ${this.journal.path}` };
    }
    let result: ControlResult;
    for (let attempt = 0; ; attempt++) {
      result = await this.orchestrator.dispatch(control, { messageId: message.id, createdAt, createdAtLocal, replay: replay || attempt > 0 });
      if (result.ok || !result.retryable || attempt >= RETRIES || !this.running) break;
      const wait = 500 * 2 ** attempt;
      this.logger.info(`message ${message.id} (${control.action}) failed (${result.error}); trying again in ${wait} ms`);
      await delay(wait);
    }
    const { retryable: _retryable, ...answer } = result as ControlResult & { retryable?: boolean };
    return answer as ControlResult;
  }

  private log(message: RelayMessage, result: ControlResult): void {
    if (result.ok) this.logger.info(`message ${message.id} (${result.action}): ${result.message}`);
    else this.logger.warn(`message ${message.id} (${result.action}) refused [${result.code}]: ${result.error}`);
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
          await this.transport.report(this.orchestrator.report());
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

function toMillis(createdAt: number | undefined): number {
  if (createdAt === undefined || !Number.isFinite(createdAt)) return Date.now();
  return createdAt < 1e12 ? createdAt * 1000 : createdAt;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
