import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

const KEEP_DONE = 2_000;
const KEEP_RESULTS = 500;

/** What the daemon keeps across restarts, besides what tmux holds. */
export interface DaemonState {
  /** Every message with an id up to this one is done. */
  cursor: number;
  /** Ids of messages whose effect has happened (the newest few thousand). */
  done: number[];
  /** Ids of messages whose handling began and did not finish: a crash came between. */
  started: number[];
  /** The answers of the newest done messages, to answer again if the relay delivers one again. */
  results: Record<string, unknown>;
}

/**
 * The daemon's journal of messages: a small JSON file per orchestrator id,
 * owner-only, replaced atomically. Writes are queued so they never interleave.
 */
export class StateFile {
  readonly path: string;
  private state: DaemonState = { cursor: 0, done: [], started: [], results: {} };
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    id: string,
  ) {
    this.path = join(dir, `${id}.json`);
  }

  async load(): Promise<DaemonState> {
    try {
      const data = JSON.parse(await readFile(this.path, "utf8")) as Partial<DaemonState>;
      const ids = (v: unknown) => (Array.isArray(v) ? v.filter((n): n is number => Number.isSafeInteger(n)) : []);
      const results = data.results && typeof data.results === "object" ? data.results : {};
      this.state = { cursor: Number.isSafeInteger(data.cursor) ? data.cursor! : 0, done: ids(data.done), started: ids(data.started), results };
    } catch {
      this.state = { cursor: 0, done: [], started: [], results: {} };
    }
    return { ...this.state, done: [...this.state.done], started: [...this.state.started], results: { ...this.state.results } };
  }

  /** Records that handling of a message began. */
  started(id: number): Promise<void> {
    if (!this.state.started.includes(id)) this.state.started.push(id);
    return this.save();
  }

  /** Records that a message's effect happened, and its answer. */
  done(id: number, result?: unknown): Promise<void> {
    this.state.started = this.state.started.filter((s) => s !== id);
    this.state.done.push(id);
    if (this.state.done.length > KEEP_DONE) this.state.done.splice(0, this.state.done.length - KEEP_DONE);
    if (result !== undefined) {
      this.state.results[String(id)] = result;
      const keys = Object.keys(this.state.results);
      for (const key of keys.slice(0, Math.max(0, keys.length - KEEP_RESULTS))) delete this.state.results[key];
    }
    return this.save();
  }

  cursor(cursor: number): Promise<void> {
    this.state.cursor = cursor;
    return this.save();
  }

  /** Forgets everything (the relay was reset and its ids start over). */
  reset(): Promise<void> {
    this.state = { cursor: 0, done: [], started: [], results: {} };
    return this.save();
  }

  private save(): Promise<void> {
    const snapshot = JSON.stringify(this.state) + "\n";
    const write = this.writing.then(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.writing = write.catch(() => undefined);
    return write;
  }
}
