import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** The second daemon for an id on this host: refused, naming the first. */
export class DaemonRunningError extends Error {
  override name = "DaemonRunningError";
  constructor(
    readonly id: string,
    readonly pid: number,
    readonly file: string,
  ) {
    super(`another daemon with id "${id}" is running on this host (pid ${pid}; lock ${file}); stop it first, or give this one another id`);
  }
}

interface LockContent {
  pid: number;
  /** The process's start time (/proc/<pid>/stat), so a reused pid is not taken for the daemon. */
  startTime?: string;
  instanceId: string;
  /** Set when the daemon stopped cleanly: the lock is free, the instance id is kept for the relay. */
  released?: boolean;
}

/**
 * One daemon per id and state folder: `<stateDir>/<id>.lock`, created with
 * O_EXCL and holding the daemon's pid. A lock whose daemon is gone (pid
 * dead or reused, or released on a clean stop) is taken over: it is first
 * moved aside, so of two daemons taking it over at once only one wins.
 */
export class DaemonLock {
  readonly file: string;
  /** The instance id of the daemon that held the lock before, if any: the relay lets this one replace it. */
  previousInstanceId?: string;
  private held = false;

  constructor(
    stateDir: string,
    private readonly id: string,
    private readonly instanceId: string,
  ) {
    this.file = join(stateDir, `${id}.lock`);
  }

  /** Takes the lock or throws `DaemonRunningError`. */
  acquire(): void {
    mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
    const mine: LockContent = { pid: process.pid, instanceId: this.instanceId, ...startTimeOf(process.pid) };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(this.file, "wx", 0o600);
        writeSync(fd, JSON.stringify(mine));
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = read(this.file);
      if (holder && isLive(holder)) throw new DaemonRunningError(this.id, holder.pid, this.file);
      // Stale (or unreadable): move it aside; only one contender moves this very file.
      const aside = `${this.file}.${process.pid}.stale`;
      try {
        renameSync(this.file, aside);
      } catch {
        continue; // someone else moved it first: try again
      }
      const moved = read(aside);
      if (moved && isLive(moved)) {
        // A contender had already replaced the stale lock with its own: give it back, and yield.
        renameSync(aside, this.file);
        throw new DaemonRunningError(this.id, moved.pid, this.file);
      }
      if (moved?.instanceId) this.previousInstanceId = moved.instanceId;
      unlinkSync(aside);
    }
    throw new Error(`could not take the lock ${this.file}: it keeps changing`);
  }

  /** Frees the lock on a clean stop, keeping the instance id for the next daemon. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    const content = read(this.file);
    if (content?.pid !== process.pid || content.instanceId !== this.instanceId) return; // not ours any more
    try {
      writeFileSync(this.file, JSON.stringify({ ...content, released: true }), { mode: 0o600 });
    } catch {
      // the state folder went away: nothing to free
    }
  }
}

function read(file: string): LockContent | undefined {
  try {
    const content = JSON.parse(readFileSync(file, "utf8")) as LockContent;
    return Number.isSafeInteger(content?.pid) && content.pid > 0 ? content : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's daemon still runs: its pid is alive and, where /proc says so, started when it did. */
function isLive(lock: LockContent): boolean {
  if (lock.released) return false;
  try {
    process.kill(lock.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTimeOf(lock.pid).startTime;
  return lock.startTime === undefined || now === undefined || now === lock.startTime;
}

function startTimeOf(pid: number): { startTime?: string } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return startTime ? { startTime } : {};
  } catch {
    return {};
  }
}
