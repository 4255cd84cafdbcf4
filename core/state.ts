import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What the daemon keeps across restarts, besides what tmux holds. */
export interface DaemonState {
  /** The highest message id this daemon has handled. */
  cursor: number;
}

/** A small JSON file per orchestrator id, owner-only, replaced atomically. */
export class StateFile {
  readonly path: string;

  constructor(
    private readonly dir: string,
    id: string,
  ) {
    this.path = join(dir, `${id}.json`);
  }

  async load(): Promise<DaemonState> {
    try {
      const data = JSON.parse(await readFile(this.path, "utf8")) as Partial<DaemonState>;
      return { cursor: Number.isSafeInteger(data.cursor) ? data.cursor! : 0 };
    } catch {
      return { cursor: 0 };
    }
  }

  async save(state: DaemonState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state) + "\n", { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
