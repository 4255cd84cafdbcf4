import { errorMessage } from "./errors.js";
import { RelayRequestError, type RelayTransport } from "./plugin.js";
import type { Journal } from "./journal.js";
import type { Logger } from "./logger.js";
import type { ControlResult } from "./types.js";

/**
 * What leaves the daemon for a handled message, recorded in the journal
 * before it goes: the answer, then the ack, each sent until the relay
 * confirms it (after each poll, and after a restart). A message whose done
 * record the journal could not take is never acked: it is answered, kept
 * here, and acked once the journal takes the record.
 */
export class Outbox {
  /** Answers of done messages the journal could not record: not acked, so the relay keeps them. */
  private readonly unjournalled = new Map<number, ControlResult | undefined>();
  private readonly delivering = new Set<number>();
  private writeFailing = false;
  private compactAt = 0;

  constructor(
    private readonly journal: Journal,
    private readonly transport: Pick<RelayTransport, "answer" | "ack">,
    private readonly logger: Logger,
  ) {}

  /** A message handled already (its answer), undefined when it was not, null when the journal cannot be read. */
  handled(id: number): { result: ControlResult | undefined } | undefined | null {
    const known = this.read(() => this.journal.entry(id));
    if (known === null) return null;
    if (known?.state === "done") return { result: known.result as ControlResult | undefined };
    if (this.unjournalled.has(id)) return { result: this.unjournalled.get(id) };
    return undefined;
  }

  /**
   * Records that a message's effect happened, with its answer; false when
   * the journal did not take it (then the answer is sent, the ack is not).
   */
  async recordDone(id: number, result: ControlResult | undefined): Promise<boolean> {
    if (this.write(() => this.journal.done(id, result))) return true;
    this.unjournalled.set(id, result);
    if (result) await this.transport.answer?.(id, result).catch(() => undefined);
    return false;
  }

  /** Forgets what is not journalled (the relay's ids start over). */
  clear(): void {
    this.unjournalled.clear();
  }

  /**
   * Sends a done message's answer, then its ack, each until the relay
   * confirms it; the journal remembers what was confirmed, so a later poll
   * or a restarted daemon sends the rest.
   */
  async deliver(id: number, result: ControlResult | undefined, entry?: { answered: boolean; acked: boolean }): Promise<void> {
    if (this.delivering.has(id)) return;
    this.delivering.add(id);
    try {
      if (result && !entry?.answered) {
        await this.transport.answer?.(id, result);
        this.write(() => this.journal.answered(id));
      }
      await this.transport.ack(id);
      this.write(() => this.journal.acked(id));
    } catch (err) {
      if (err instanceof RelayRequestError && err.status === 404) {
        // The relay no longer has the message: nothing left to deliver.
        this.write(() => (this.journal.answered(id), this.journal.acked(id)));
        return;
      }
      this.logger.warn(`could not deliver the answer or ack of message ${id}: ${errorMessage(err)}; will try again`);
    } finally {
      this.delivering.delete(id);
    }
  }

  /**
   * Before each poll: answers and acks the relay has not confirmed are sent
   * again (a few at a time), and done messages the journal could not take are
   * written again.
   */
  redeliver(busy: (id: number) => boolean): void {
    for (const [id, result] of [...this.unjournalled].slice(0, 20)) {
      if (this.write(() => this.journal.done(id, result))) {
        this.unjournalled.delete(id);
        this.logger.info(`the journal takes writes again; message ${id} recorded`);
      }
    }
    const pending = this.read(() => this.journal.undelivered()) ?? [];
    for (const entry of pending.filter((e) => !busy(e.id)).slice(0, 20)) {
      void this.deliver(entry.id, entry.result as ControlResult | undefined, entry);
    }
    if (this.compactAt++ % 200 === 0) this.write(() => this.journal.compact());
  }

  /** A journal write; false (with an error in the log) when it failed. */
  write(fn: () => void): boolean {
    try {
      fn();
      if (this.writeFailing) this.logger.info(`the journal ${this.journal.path} takes writes again`);
      this.writeFailing = false;
      return true;
    } catch (err) {
      if (!this.writeFailing) {
        this.logger.error(
          `cannot write the journal ${this.journal.path}: ${errorMessage(err)}; controls are answered with an error and not acknowledged until it can be written`,
        );
      }
      this.writeFailing = true;
      return false;
    }
  }

  /** A journal read; null (with an error in the log) when it failed. */
  private read<T>(fn: () => T): T | null {
    try {
      return fn();
    } catch (err) {
      this.logger.error(`cannot read the journal ${this.journal.path}: ${errorMessage(err)}`);
      return null;
    }
  }
}
