import Database from "better-sqlite3";
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { describeFsError } from "./private-dir.js";

/** Done messages kept (with their answers) once answered and acknowledged; older ones are compacted away. */
const KEEP_DONE = 5_000;

/** One message as the journal knows it. */
export interface JournalEntry {
  id: number;
  /** `started`: handling began (a crash may have come between); `done`: its effect happened. */
  state: "started" | "done";
  result?: unknown;
  /** The relay confirmed the answer (or there is none to send). */
  answered: boolean;
  /** The relay confirmed the ack. */
  acked: boolean;
}

/** What a journal found when it was opened. */
export interface JournalOpened {
  /** The journal was unreadable and was kept aside under this name; its history is lost. */
  corrupt?: { keptAs: string; reason: string };
  /** A 0.x JSON state file was taken over. */
  migrated?: string;
}

/**
 * The daemon's journal of messages, one SQLite file per orchestrator id
 * (WAL, owner-only): one row per message, the cursor and the relay's epoch,
 * and whether each typed prompt was delivered. Every write is one small
 * committed statement, so a backlog of controls costs one row each, not a
 * rewrite of the whole history. Writes throw on failure: the caller decides.
 */
export class Journal {
  readonly path: string;
  private db!: Database.Database;
  private stmt!: ReturnType<Journal["prepare"]>;

  constructor(
    private readonly dir: string,
    private readonly id: string,
  ) {
    this.path = join(dir, `${id}.journal.db`);
  }

  /** Opens (or creates) the journal. Throws a `JournalStorageError` that names the cause when the folder cannot hold it. */
  open(now = Date.now()): JournalOpened {
    checkWritable(this.dir);
    const opened: JournalOpened = {};
    try {
      // A journal file cut to nothing would open as a new, empty one: that is damage too.
      if (existsSync(this.path) && statSync(this.path).size === 0) throw Object.assign(new Error("the file is empty (truncated)"), { code: "SQLITE_CORRUPT" });
      this.connect();
    } catch (err) {
      const reason = (err as Error).message;
      if (!isCorruption(err)) throw storageError(this.path, err);
      this.db?.close();
      const keptAs = `${this.path}.corrupt-${now}`;
      for (const suffix of ["", "-wal", "-shm"]) if (existsSync(this.path + suffix)) renameSync(this.path + suffix, keptAs + suffix);
      opened.corrupt = { keptAs, reason };
      this.connect();
    }
    const legacy = join(this.dir, `${this.id}.json`);
    if (existsSync(legacy)) {
      opened.migrated = legacy;
      try {
        this.importLegacy(JSON.parse(readFileSync(legacy, "utf8")) as LegacyState);
        renameSync(legacy, `${legacy}.migrated`);
      } catch (err) {
        const keptAs = `${legacy}.corrupt-${now}`;
        renameSync(legacy, keptAs);
        opened.corrupt = { keptAs, reason: (err as Error).message };
        delete opened.migrated;
      }
    }
    return opened;
  }

  close(): void {
    if (this.db?.open) this.db.close();
  }

  /** Every message id up to the cursor is done. */
  get cursor(): number {
    return Number(this.getMeta("cursor") ?? 0);
  }

  setCursor(cursor: number): void {
    this.stmt.setMeta.run("cursor", String(cursor));
  }

  /** The relay's epoch (identity of its message sequence) the entries belong to; undefined before any was seen. */
  get epoch(): string | undefined {
    return this.getMeta("epoch");
  }

  setEpoch(epoch: string): void {
    this.stmt.setMeta.run("epoch", epoch);
  }

  entries(): JournalEntry[] {
    return (this.stmt.all.all() as RawEntry[]).map(toEntry);
  }

  entry(id: number): JournalEntry | undefined {
    const row = this.stmt.one.get(id) as RawEntry | undefined;
    return row ? toEntry(row) : undefined;
  }

  /** Records that handling of a message began. */
  started(id: number): void {
    this.stmt.started.run(id);
  }

  /** Records that a message's effect happened, and its answer (still to be delivered when there is one). */
  done(id: number, result: unknown): void {
    this.stmt.done.run({ id, result: result === undefined ? null : JSON.stringify(result), answered: result === undefined ? 1 : 0 });
  }

  answered(id: number): void {
    this.stmt.answered.run(id);
  }

  acked(id: number): void {
    this.stmt.acked.run(id);
  }

  /** Done messages whose answer or ack the relay has not confirmed, oldest first. */
  undelivered(): JournalEntry[] {
    return (this.stmt.undelivered.all() as RawEntry[]).map(toEntry);
  }

  /** Forgets old, delivered messages beyond the newest few thousand. */
  compact(): void {
    this.stmt.compact.run(KEEP_DONE);
  }

  /** Forgets every message (the relay's ids start over); prompts stay (they are about tmux sessions). */
  reset(): void {
    this.db.transaction(() => {
      this.stmt.clear.run();
      this.stmt.setMeta.run("cursor", "0");
    })();
  }

  /** A prompt that is to be typed into a starting agent (`startedAt` tells this start from a later one). */
  promptPending(session: string, startedAt: number): void {
    this.stmt.prompt.run(session, startedAt, 0);
  }

  promptDelivered(session: string, startedAt: number): void {
    this.stmt.prompt.run(session, startedAt, 1);
  }

  /** Whether the prompt of this start of a session is still to be typed. */
  promptUndelivered(session: string, startedAt: number): boolean {
    const row = this.stmt.promptOf.get(session) as { started_at: number; delivered: number } | undefined;
    return row !== undefined && row.started_at === startedAt && row.delivered === 0;
  }

  private getMeta(key: string): string | undefined {
    return (this.stmt.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  private connect(): void {
    // Owner-only: made so before SQLite opens it, whose write-ahead files take its mode.
    closeSync(openSync(this.path, "a", 0o600));
    for (const suffix of ["", "-wal", "-shm"]) if (existsSync(this.path + suffix)) chmodSync(this.path + suffix, 0o600);
    this.db = new Database(this.path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 2000");
    const check = this.db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw Object.assign(new Error(`integrity check: ${String(check)}`), { code: "SQLITE_CORRUPT" });
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY, state TEXT NOT NULL, result TEXT,
        answered INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS prompts (session TEXT PRIMARY KEY, started_at INTEGER NOT NULL, delivered INTEGER NOT NULL);
    `);
    this.stmt = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
      all: db.prepare("SELECT * FROM messages ORDER BY id"),
      one: db.prepare("SELECT * FROM messages WHERE id = ?"),
      started: db.prepare("INSERT INTO messages (id, state) VALUES (?, 'started') ON CONFLICT(id) DO NOTHING"),
      done: db.prepare(
        `INSERT INTO messages (id, state, result, answered) VALUES (@id, 'done', @result, @answered)
         ON CONFLICT(id) DO UPDATE SET state = 'done', result = @result, answered = @answered`,
      ),
      answered: db.prepare("UPDATE messages SET answered = 1 WHERE id = ?"),
      acked: db.prepare("UPDATE messages SET acked = 1 WHERE id = ?"),
      undelivered: db.prepare("SELECT * FROM messages WHERE state = 'done' AND (answered = 0 OR acked = 0) ORDER BY id"),
      compact: db.prepare(
        `DELETE FROM messages WHERE state = 'done' AND answered = 1 AND acked = 1
         AND id < (SELECT MIN(id) FROM (SELECT id FROM messages ORDER BY id DESC LIMIT ?))`,
      ),
      clear: db.prepare("DELETE FROM messages"),
      prompt: db.prepare(
        "INSERT INTO prompts (session, started_at, delivered) VALUES (?, ?, ?) ON CONFLICT(session) DO UPDATE SET started_at = excluded.started_at, delivered = excluded.delivered",
      ),
      promptOf: db.prepare("SELECT started_at, delivered FROM prompts WHERE session = ?"),
    };
  }

  private importLegacy(data: LegacyState): void {
    const ids = (v: unknown) => (Array.isArray(v) ? v.filter((n): n is number => Number.isSafeInteger(n)) : []);
    const results = data.results && typeof data.results === "object" ? data.results : {};
    this.db.transaction(() => {
      if (Number.isSafeInteger(data.cursor)) this.setCursor(data.cursor!);
      for (const id of ids(data.started)) this.started(id);
      // Answers of 0.x were sent once and never confirmed; they count as delivered (the relay keeps the first).
      for (const id of ids(data.done)) {
        this.done(id, results[String(id)]);
        this.answered(id);
        this.acked(id);
      }
    })();
  }
}

/** The state folder cannot hold the journal; the message names the path, the cause and what to do. */
export class JournalStorageError extends Error {
  override name = "JournalStorageError";
}

interface LegacyState {
  cursor?: number;
  done?: unknown;
  started?: unknown;
  results?: Record<string, unknown>;
}

interface RawEntry {
  id: number;
  state: string;
  result: string | null;
  answered: number;
  acked: number;
}

function toEntry(row: RawEntry): JournalEntry {
  return {
    id: row.id,
    state: row.state === "done" ? "done" : "started",
    ...(row.result !== null ? { result: JSON.parse(row.result) as unknown } : {}),
    answered: row.answered === 1,
    acked: row.acked === 1,
  };
}

function isCorruption(err: unknown): boolean {
  const code = String((err as { code?: unknown }).code ?? "");
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || /not a database|malformed/i.test((err as Error).message);
}

/** Creates the folder if need be and checks it can be written, so the error names the real cause. */
function checkWritable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw storageError(dir, err);
  }
}

function storageError(path: string, err: unknown): JournalStorageError {
  return new JournalStorageError(
    `cannot keep the message journal in ${path}: ${describeFsError(err)}; ` +
      "make the state folder writable by this user, or set stateDir (AGENT_RELAY_ORCHESTRATOR_STATE_DIR) to a writable folder",
    { cause: err },
  );
}
