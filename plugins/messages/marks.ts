import { closeSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, type ControlRequest, type Logger } from "../../core/index.js";

/** Marks older than this are removed when the daemon starts (a control that old is answered `expired` by the core anyway). */
const KEEP_MS = 2 * 24 * 3600_000;

/**
 * Which messages' text began to be typed, one empty file each in an
 * owner-only folder, written before the first key goes to the agent. The
 * journal makes a control run once; but a daemon killed while it typed runs
 * the control again after its restart (a replay), and only this says whether
 * the text may already be in the agent: then it is not typed a second time.
 */
export class TypedMarks {
  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** The mark of a control from the relay (its message id and sent time), or undefined for one without. */
  of(request: Pick<ControlRequest, "messageId" | "createdAt">): string | undefined {
    if (request.messageId === undefined || request.createdAt === undefined) return undefined;
    return `${request.messageId}-${request.createdAt}`;
  }

  has(mark: string): boolean {
    try {
      statSync(join(this.dir, mark));
      return true;
    } catch {
      return false;
    }
  }

  /** Records that typing begins; throws when it cannot (then nothing is typed: a replay could not tell). */
  write(mark: string): void {
    ensurePrivateDir(this.dir, "messages dir", (text) => this.logger.warn(text));
    closeSync(openSync(join(this.dir, mark), "w", 0o600));
  }

  /** Removes marks older than two days. */
  prune(now = Date.now()): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      try {
        if (now - statSync(join(this.dir, name)).mtimeMs > KEEP_MS) rmSync(join(this.dir, name), { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}
