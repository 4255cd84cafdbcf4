import { chmodSync, mkdirSync, statSync } from "node:fs";
import { ConfigError } from "./errors.js";

/**
 * Makes sure `dir` exists and is this user's alone. A directory that belongs
 * to someone else is refused (they could read or swap what the daemon keeps
 * there); one that others may enter is tightened to 0700, with a warning.
 * `what` names it in messages (e.g. "stateDir").
 */
export function ensurePrivateDir(dir: string, what: string, warn: (text: string) => void = () => undefined): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`${what} ${dir} cannot be created: ${describeFsError(err)}; set ${what} to a folder this user can create and make writable`, { cause: err });
  }
  const info = statSync(dir);
  if (!info.isDirectory()) throw new ConfigError(`${what} ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new ConfigError(`${what} ${dir} belongs to uid ${info.uid}, not to this user (uid ${uid}): refusing to keep state there; choose a directory of your own`);
  }
  if ((info.mode & 0o077) !== 0) {
    chmodSync(dir, 0o700);
    warn(`${what} ${dir} was open to others (mode ${(info.mode & 0o777).toString(8)}); made it owner-only (700)`);
  }
}

/** A file-system (or SQLite) error in words: the cause (permission, read-only, full disk) and its code. */
export function describeFsError(err: unknown): string {
  const code = String((err as { code?: unknown })?.code ?? "error");
  const why: Record<string, string> = {
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "the file system is read-only",
    ENOTDIR: "a part of the path is not a directory",
    ENOSPC: "the disk is full",
    SQLITE_CANTOPEN: "the file cannot be opened",
    SQLITE_READONLY: "the file is read-only",
    SQLITE_FULL: "the disk is full",
  };
  return `${why[code] ?? (err as Error)?.message ?? String(err)} (${code})`;
}
