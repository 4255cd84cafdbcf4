import type { ControlKey, ControlKeyInfo, ParsedControl } from "./controls.js";
import { ControlError, errorMessage, isControlError } from "./errors.js";
import { AgentLocks } from "./lock.js";
import type { Journal } from "./journal.js";
import type { Logger } from "./logger.js";
import { Outbox } from "./outbox.js";
import type { RelayTransport } from "./plugin.js";
import type { ControlRequest, ControlResult, RelayMessage } from "./types.js";

/** Transient failures are tried again this many times, with backoff from 500 ms. */
const RETRIES = 3;

/** What the inbox needs of the daemon: parsing, ordering and answering controls, and finding agents by name. */
export interface InboxHost {
  /** Controls older than this (on the relay's clock) are answered `expired`. */
  readonly maxMessageAgeMs: number;
  /** The message's control, parsed once; undefined when it carries none; throws `ControlError` when invalid. */
  parseControl(message: RelayMessage): ParsedControl | undefined;
  controlKey(parsed: ParsedControl, info: ControlKeyInfo): ControlKey;
  dispatchParsed(parsed: ParsedControl, context: Omit<ControlRequest, "control">): Promise<ControlResult>;
  /** The key of the agent a target (agentId, session name, label) names, if one is managed: its session name. */
  agentKey(target: string): string | undefined;
  /** The agents' locks (the orchestrator's): a control takes its agent's turn. A set of its own when absent (tests). */
  readonly locks?: AgentLocks;
}

/** The time, and waiting: real in the daemon, fake in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.()),
};

/**
 * Takes up polled messages and handles each at most once: journalled
 * (started, then done with its answer) before it is acknowledged, so a
 * message delivered twice (a lost ack, a replay, a daemon killed between the
 * effect and the ack) has its effect once, and an answer or ack the relay did
 * not confirm is sent again until it does, across restarts. Messages about
 * the same agent (one key per agent, see `ControlKey`) run in the order they
 * came, a control for every agent after every earlier one and before every
 * later one; others run in parallel. The cursor moves past a message once it
 * and every one before it are done.
 */
export class Inbox {
  private cursorValue = 0;
  private highestDone = 0;
  /** The newest message id taken up in this process. */
  private highestSeen = 0;
  /** Messages whose handling began before this process (it crashed meanwhile). */
  private interrupted = new Set<number>();
  /** Messages left unread because the journal could not be read: asked for again, and the cursor stays before them. */
  private readonly unread = new Set<number>();
  /** After a journal was lost: messages up to this id may have had their effect already. */
  lostUpTo = 0;
  private readonly inflight = new Map<number, Promise<void>>();
  /** In-flight controls that may wait long for their agent (`longWait`): a control for every agent does not wait for them. */
  private readonly longWaits = new Set<number>();
  /** The in-flight controls for every agent (key `*`). */
  private readonly forAll = new Map<number, Promise<void>>();
  /** The agents' locks, by session name; also `*` (every agent) and one key per message without a control. */
  private readonly order: AgentLocks;
  readonly outbox: Outbox;
  /** Other names (labels) of agents whose spawns are not done, and the agent's key. */
  private readonly aliases = new Map<string, string>();
  /** False once the daemon stops: failed controls are not tried again. */
  running = true;

  constructor(
    private readonly host: InboxHost,
    private readonly transport: Pick<RelayTransport, "answer" | "ack" | "clockOffsetMs">,
    private readonly journal: Journal,
    private readonly logger: Logger,
    private readonly clock: Clock = realClock,
  ) {
    this.outbox = new Outbox(journal, transport, logger);
    this.order = host.locks ?? new AgentLocks();
  }

  /** Reads where the journal left off: the cursor, and messages whose handling was interrupted. */
  load(): void {
    this.cursorValue = this.highestDone = this.journal.cursor;
    this.interrupted = new Set(this.journal.entries().filter((e) => e.state === "started").map((e) => e.id));
  }

  /** The id to poll after: messages being handled are not asked for again (they stay unread until acknowledged). */
  get pollAfter(): number {
    const after = Math.max(this.cursorValue, this.highestSeen);
    return this.unread.size > 0 ? Math.min(after, Math.min(...this.unread) - 1) : after;
  }

  get cursor(): number {
    return this.cursorValue;
  }

  /** Resolves once every message taken up so far is done (answered and acked, or left for the relay). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()]);
  }

  /** Takes up polled messages in id order; answers how many were new. */
  take(messages: readonly RelayMessage[]): number {
    let fresh = 0;
    for (const message of [...messages].sort((a, b) => a.id - b.id)) {
      if (!this.running) break;
      if (this.enqueue(message)) fresh++;
    }
    return fresh;
  }

  /**
   * Sends again the answers and acks the relay has not confirmed (those of
   * messages still being handled go when they are done). Called before each
   * poll, so they go as soon as the relay is back, not after a long wait.
   */
  redeliver(): void {
    this.outbox.redeliver((id) => this.inflight.has(id));
  }

  /** The relay's ids start over: so does the journal (in-flight messages finish, under their old ids). */
  startOver(epoch: string | undefined): void {
    this.cursorValue = this.highestDone = this.highestSeen = 0;
    this.interrupted.clear();
    this.unread.clear();
    this.outbox.clear();
    try {
      this.journal.reset();
      if (epoch !== undefined) this.journal.setEpoch(epoch);
    } catch (err) {
      this.logger.error(`could not reset the journal ${this.journal.path}: ${errorMessage(err)}`);
    }
  }

  /** Starts handling a message unless it is being handled already; true when it was new. */
  private enqueue(message: RelayMessage): boolean {
    if (!Number.isSafeInteger(message.id) || this.inflight.has(message.id)) return false;
    this.unread.delete(message.id);
    this.highestSeen = Math.max(this.highestSeen, message.id);
    let parsed: ParsedControl | ControlError | undefined;
    try {
      parsed = this.host.parseControl(message);
    } catch (err) {
      parsed = isControlError(err) ? err : new ControlError("invalid", errorMessage(err));
    }
    const key = parsed && !isControlError(parsed) ? this.keyOf(parsed, message) : `message #${message.id}`;
    // A control for every agent waits for the controls that came before it; any later control waits for it.
    // It waits before taking its turn: a control for every agent takes each agent's turn in its own.
    const before = key === "*" ? [...this.inflight].filter(([id]) => !this.longWaits.has(id)).map(([, task]) => task) : [...this.forAll.values()];
    const task = Promise.all(before)
      .then(() => this.order.run(key, () => this.process(message, parsed)))
      // The ack is outside the agent's turn: a slow relay holds up no later control.
      .then((handled) => (handled ? this.outbox.deliver(message.id, handled.result) : undefined))
      .catch((err: unknown) => this.logger.warn(`message ${message.id}: ${errorMessage(err)}`))
      .finally(() => {
        this.inflight.delete(message.id);
        this.forAll.delete(message.id);
        this.longWaits.delete(message.id);
        if (this.inflight.size === 0) this.aliases.clear();
        this.advanceCursor(message.id);
      });
    this.inflight.set(message.id, task);
    if (parsed && !isControlError(parsed) && parsed.declaration?.longWait) this.longWaits.add(message.id);
    if (key === "*") this.forAll.set(message.id, task);
    return true;
  }

  /** One key per agent (its session name, the orchestrator's lock key): a target given by another name is turned into the key of the agent it names. */
  private keyOf(parsed: ParsedControl, message: RelayMessage): string {
    let key: ControlKey;
    try {
      key = this.host.controlKey(parsed, { createdAt: toMillis(message.createdAt, this.clock) });
    } catch (err) {
      this.logger.warn(`message ${message.id}: no ordering key (${errorMessage(err)}); ordered after every other`);
      return "*";
    }
    if (key === "*") return key;
    if (typeof key === "object") {
      for (const alias of key.aliases ?? []) this.aliases.set(alias, key.agent);
      return key.agent;
    }
    return this.host.agentKey(key) ?? this.aliases.get(key) ?? key;
  }

  /** The cursor moves past a message once it and every message before it are done. */
  private advanceCursor(doneId: number): void {
    this.highestDone = Math.max(this.highestDone, doneId);
    const pending = [...this.inflight.keys(), ...this.unread];
    const next = pending.length > 0 ? Math.min(this.highestDone, Math.min(...pending) - 1) : this.highestDone;
    if (next <= this.cursorValue) return;
    this.cursorValue = next;
    this.outbox.write(() => this.journal.setCursor(next));
  }

  /**
   * Handles one message at most once and records that (with its answer);
   * resolves with the answer to deliver, or undefined when the message is
   * left for the relay to deliver again. A message done already is only
   * answered and acknowledged again (the relay keeps the first answer).
   */
  private async process(message: RelayMessage, parsed: ParsedControl | ControlError | undefined): Promise<{ result: ControlResult | undefined } | undefined> {
    const known = this.outbox.handled(message.id);
    if (known === null) {
      this.unread.add(message.id); // the journal cannot be read: left unread, asked for again
      return undefined;
    }
    if (known) {
      this.logger.debug(`message ${message.id} was handled already; answering and acknowledging it again`);
      return known;
    }
    const result = await this.resultFor(message, parsed);
    if (result) this.log(message, result);
    return (await this.outbox.recordDone(message.id, result)) ? { result } : undefined;
  }

  private async resultFor(message: RelayMessage, parsed: ParsedControl | ControlError | undefined): Promise<ControlResult | undefined> {
    if (isControlError(parsed)) return { ok: false, action: "unknown", code: parsed.code, error: parsed.message };
    if (!parsed) {
      if (message.kind === "control") {
        return { ok: false, action: "unknown", code: "invalid", error: "control message without a control payload" };
      }
      this.logger.debug(`message ${message.id} is not a control (kind ${String(message.kind)}); acknowledged`);
      return undefined;
    }
    const { action } = parsed.control;
    // The relay stamps createdAt on its clock: ages are measured on that clock too.
    const createdAt = toMillis(message.createdAt, this.clock);
    const createdAtLocal = createdAt - (this.transport.clockOffsetMs ?? 0);
    const age = this.clock.now() - createdAtLocal;
    const limit = this.host.maxMessageAgeMs;
    if (message.createdAt !== undefined && age > limit) {
      return { ok: false, action, code: "expired", error: `control expired: sent ${Math.round(age / 1000)}s ago, limit ${Math.round(limit / 1000)}s` };
    }
    const replay = this.interrupted.has(message.id) || message.id <= this.lostUpTo;
    if (!this.outbox.write(() => this.journal.started(message.id))) {
      return { ok: false, action, code: "journal", error: `not run: the daemon cannot write its journal ${this.journal.path}` };
    }
    let result: ControlResult;
    for (let attempt = 0; ; attempt++) {
      result = await this.host.dispatchParsed(parsed, { messageId: message.id, createdAt, createdAtLocal, replay: replay || attempt > 0 });
      if (result.ok || !result.retryable || attempt >= RETRIES || !this.running) break;
      const wait = 500 * 2 ** attempt;
      this.logger.info(`message ${message.id} (${action}) failed (${result.error}); trying again in ${wait} ms`);
      await this.clock.sleep(wait);
    }
    const { retryable: _retryable, ...answer } = result as ControlResult & { retryable?: boolean };
    return answer as ControlResult;
  }

  private log(message: RelayMessage, result: ControlResult): void {
    if (result.ok) this.logger.info(`message ${message.id} (${result.action}): ${result.message}`);
    else this.logger.warn(`message ${message.id} (${result.action}) refused [${result.code}]: ${result.error}`);
  }
}

function toMillis(createdAt: number | undefined, clock: Clock): number {
  if (createdAt === undefined || !Number.isFinite(createdAt)) return clock.now();
  return createdAt < 1e12 ? createdAt * 1000 : createdAt;
}
