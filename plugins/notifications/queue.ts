import { errorMessage, type Logger } from "../../core/index.js";

export interface QueueOptions {
  /** Whom it delivers to, for log lines (never a URL: it may hold a secret). */
  name: string;
  /** Deliveries under way at once. */
  concurrency: number;
  /** Tries per delivery, the first included. */
  attempts: number;
  /** The wait before the second try; doubled for each further one, at most `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** One try that takes longer is aborted and counts as failed. */
  timeoutMs: number;
  /** Deliveries waiting beyond this many: the oldest is dropped. */
  maxQueued: number;
  logger: Logger;
}

/** One try at delivering; it must give up when `signal` aborts. */
export type Send = (signal: AbortSignal) => Promise<void>;

interface Job {
  what: string;
  send: Send;
  tries: number;
}

/**
 * The deliveries to one target: `push` returns at once; at most
 * `concurrency` run at a time, each try bounded by `timeoutMs`; a failed one
 * is tried again after a backoff (no slot is held meanwhile) until
 * `attempts`, then dropped with a log line. A dead or hanging target delays
 * only its own queue.
 */
export class DeliveryQueue {
  private readonly waiting: Job[] = [];
  private readonly inFlight = new Set<AbortController>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly o: QueueOptions) {}

  get name(): string {
    return this.o.name;
  }

  /** Queues a delivery; `what` names it in log lines. */
  push(what: string, send: Send): void {
    if (this.closed) return;
    this.enqueue({ what, send, tries: 0 });
  }

  /** Drops what waits and aborts what runs (the daemon is stopping). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort(new Error("the daemon is stopping"));
    if (this.waiting.length > 0) this.o.logger.debug(`${this.o.name}: ${this.waiting.length} notification(s) not sent: the daemon is stopping`);
    this.waiting.length = 0;
  }

  private enqueue(job: Job): void {
    this.waiting.push(job);
    if (this.waiting.length > this.o.maxQueued) {
      const dropped = this.waiting.shift()!;
      this.o.logger.warn(`${this.o.name}: more than ${this.o.maxQueued} notifications waiting; dropped ${dropped.what}`);
    }
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight.size < this.o.concurrency && this.waiting.length > 0) {
      void this.run(this.waiting.shift()!);
    }
  }

  private async run(job: Job): Promise<void> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    job.tries++;
    try {
      await untilAborted(job.send(controller.signal), controller.signal);
      this.o.logger.debug(`${this.o.name}: sent ${job.what}${job.tries > 1 ? ` (try ${job.tries})` : ""}`);
    } catch (err) {
      const why = errorMessage(controller.signal.aborted ? controller.signal.reason : err);
      if (this.closed) {
        // stopping: nothing more to do
      } else if (job.tries >= this.o.attempts) {
        this.o.logger.warn(`${this.o.name}: gave up on ${job.what} after ${job.tries} tries: ${why}`);
      } else {
        const wait = backoff(job.tries - 1, this.o.minBackoffMs, this.o.maxBackoffMs);
        this.o.logger.debug(`${this.o.name}: ${job.what} failed (try ${job.tries}): ${why}; again in ${wait} ms`);
        const retry = setTimeout(() => {
          this.timers.delete(retry);
          if (!this.closed) this.enqueue(job);
        }, wait);
        this.timers.add(retry);
      }
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
      this.pump();
    }
  }
}

/** `min · 2^n`, at most `max`, then between half and all of it. */
export function backoff(tries: number, min: number, max: number): number {
  const ceiling = Math.min(max, min * 2 ** tries);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** `work`, or the abort's reason as soon as `signal` aborts (a sender that ignores it holds no slot). */
function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  work.catch(() => {}); // settles after the abort: nobody waits for it any more
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
