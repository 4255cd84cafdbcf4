import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

const KEEP_DONE = 2_000;

/** What the daemon keeps across restarts, besides what tmux holds. */
export interface DaemonState {
  /** Every message with an id up to this one is done. */
  cursor: number;
  /** Ids of messages whose effect has happened (the newest few thousand). */
  done: number[];
  /** Ids of messages whose handling began and did not finish: a crash came between. */
  started: number[];
}

/**
 * The daemon's journal of messages: a small JSON file per orchestrator id,
 * owner-only, replaced atomically. Writes are queued so they never interleave.
 */
export class StateFile {
  readonly path: string;
  private state: DaemonState = { cursor: 0, done: [], started: [] };
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
      this.state = { cursor: Number.isSafeInteger(data.cursor) ? data.cursor! : 0, done: ids(data.done), started: ids(data.started) };
    } catch {
      this.state = { cursor: 0, done: [], started: [] };
    }
    return { ...this.state, done: [...this.state.done], started: [...this.state.started] };
  }

  /** Records that handling of a message began. */
  started(id: number): Promise<void> {
    if (!this.state.started.includes(id)) this.state.started.push(id);
    return this.save();
  }

  /** Records that a message's effect happened. */
  done(id: number): Promise<void> {
    this.state.started = this.state.started.filter((s) => s !== id);
    this.state.done.push(id);
    if (this.state.done.length > KEEP_DONE) this.state.done.splice(0, this.state.done.length - KEEP_DONE);
    return this.save();
  }

  cursor(cursor: number): Promise<void> {
    this.state.cursor = cursor;
    return this.save();
  }

  /** Forgets everything (the relay was reset and its ids start over). */
  reset(): Promise<void> {
    this.state = { cursor: 0, done: [], started: [] };
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
