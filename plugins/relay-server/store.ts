import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export interface HostRow {
  id: string;
  registration: Record<string, unknown>;
  registeredAt: number;
  lastSeen: number;
  lastHeartbeat?: number;
  /** When its daemon said it was stopping (cleared by its next registration or heartbeat). */
  offlineSince?: number;
  agents: Array<Record<string, unknown>>;
}

export interface MessageRow {
  id: number;
  to: string;
  from?: string;
  kind: string;
  body: string;
  createdAt: number;
  payload: Record<string, unknown>;
  meta: Record<string, unknown>;
}

/**
 * The relay's state in SQLite (WAL): hosts, messages with who has read them,
 * control results, and agent records. Every write is a committed
 * transaction, so a `kill -9` loses nothing that was answered.
 */
export class RelayStore {
  private readonly db: Database.Database;
  private readonly stmt;
  /** The identity of this database's message sequence, created with it: a wiped relay gets a new one. */
  readonly epoch: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, "relay.db");
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS hosts (
        id TEXT PRIMARY KEY, registration TEXT NOT NULL, registered_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL, last_heartbeat INTEGER, agents TEXT NOT NULL DEFAULT '[]');
      CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT, to_agent TEXT NOT NULL, from_agent TEXT,
        kind TEXT NOT NULL, body TEXT NOT NULL, payload TEXT NOT NULL, meta TEXT NOT NULL,
        created_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS messages_to ON messages (to_agent, id);
      CREATE TABLE IF NOT EXISTS message_reads (
        message_id INTEGER NOT NULL, reader TEXT NOT NULL, read_at INTEGER NOT NULL,
        PRIMARY KEY (message_id, reader));
      CREATE TABLE IF NOT EXISTS results (
        message_id INTEGER PRIMARY KEY, result TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS agents (
        id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at INTEGER NOT NULL, owner TEXT);
      CREATE TABLE IF NOT EXISTS relay_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    // Databases from before records had owners: theirs stay the admin's.
    const columns = this.db.prepare("PRAGMA table_info(agents)").all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === "owner")) this.db.exec("ALTER TABLE agents ADD COLUMN owner TEXT");
    // Databases from before daemons said they were stopping.
    const hostColumns = this.db.prepare("PRAGMA table_info(hosts)").all() as Array<{ name: string }>;
    if (!hostColumns.some((c) => c.name === "offline_since")) this.db.exec("ALTER TABLE hosts ADD COLUMN offline_since INTEGER");
    // ... and from before the relay kept when a message was first handed to its addressee.
    const messageColumns = this.db.prepare("PRAGMA table_info(messages)").all() as Array<{ name: string }>;
    if (!messageColumns.some((c) => c.name === "delivered_at")) this.db.exec("ALTER TABLE messages ADD COLUMN delivered_at INTEGER");
    // The identity of this database's message sequence: a wiped relay starts a new one.
    this.db.prepare("INSERT OR IGNORE INTO relay_meta (key, value) VALUES ('epoch', ?)").run(randomUUID());
    this.epoch = (this.db.prepare("SELECT value FROM relay_meta WHERE key = 'epoch'").get() as { value: string }).value;
    // Owner-only, the write-ahead log and shared memory files too (the folder is already).
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    this.stmt = {
      upsertHost: this.db.prepare(
        `INSERT INTO hosts (id, registration, registered_at, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET registration = excluded.registration, registered_at = excluded.registered_at, last_seen = excluded.last_seen,
         offline_since = NULL`,
      ),
      touchHost: this.db.prepare("UPDATE hosts SET last_seen = ? WHERE id = ?"),
      heartbeat: this.db.prepare("UPDATE hosts SET last_seen = ?, last_heartbeat = ?, offline_since = NULL WHERE id = ?"),
      hostOffline: this.db.prepare("UPDATE hosts SET offline_since = ? WHERE id = ?"),
      deleteHost: this.db.prepare("DELETE FROM hosts WHERE id = ?"),
      setAgents: this.db.prepare("UPDATE hosts SET agents = ?, last_seen = ? WHERE id = ?"),
      hosts: this.db.prepare("SELECT * FROM hosts ORDER BY id"),
      host: this.db.prepare("SELECT * FROM hosts WHERE id = ?"),
      latest: this.db.prepare("SELECT COALESCE(MAX(id), 0) AS latest FROM messages"),
      insertMessage: this.db.prepare(
        "INSERT INTO messages (to_agent, from_agent, kind, body, payload, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      messagesFor: this.db.prepare("SELECT * FROM messages WHERE to_agent = ? AND id > ? ORDER BY id LIMIT ?"),
      unreadFor: this.db.prepare(
        `SELECT * FROM messages m WHERE m.to_agent = ? AND m.id > ?
         AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.reader = ?) ORDER BY m.id LIMIT ?`,
      ),
      message: this.db.prepare("SELECT * FROM messages WHERE id = ?"),
      markDelivered: this.db.prepare("UPDATE messages SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL"),
      delivered: this.db.prepare(
        `SELECT 1 FROM messages m WHERE m.id = ? AND (m.delivered_at IS NOT NULL
         OR EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.reader = m.to_agent))`,
      ),
      markRead: this.db.prepare("INSERT OR IGNORE INTO message_reads (message_id, reader, read_at) VALUES (?, ?, ?)"),
      // The first answer wins: a daemon that answers again after a crash changes nothing.
      setResult: this.db.prepare("INSERT OR IGNORE INTO results (message_id, result, created_at) VALUES (?, ?, ?)"),
      result: this.db.prepare("SELECT result FROM results WHERE message_id = ?"),
      // A record the admin replaces keeps its owner.
      upsertAgent: this.db.prepare(
        `INSERT INTO agents (id, record, updated_at, owner) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at, owner = COALESCE(excluded.owner, agents.owner)`,
      ),
      agents: this.db.prepare("SELECT record FROM agents ORDER BY id"),
      agentsOf: this.db.prepare("SELECT record FROM agents WHERE owner = ? ORDER BY id"),
      agentOwner: this.db.prepare("SELECT owner FROM agents WHERE id = ?"),
      deleteAgent: this.db.prepare("DELETE FROM agents WHERE id = ?"),
    };
  }

  registerHost(id: string, registration: Record<string, unknown>, now: number): void {
    this.stmt.upsertHost.run(id, JSON.stringify(registration), now, now);
  }

  /** Marks a host as seen; false when it is not registered. */
  touchHost(id: string, now: number): boolean {
    return this.stmt.touchHost.run(now, id).changes > 0;
  }

  /** Records a heartbeat; false when the host is not registered. */
  heartbeat(id: string, now: number): boolean {
    return this.stmt.heartbeat.run(now, now, id).changes > 0;
  }

  /** Records that a host's daemon said it is stopping; false when the host is not registered. */
  hostOffline(id: string, now: number): boolean {
    return this.stmt.hostOffline.run(now, id).changes > 0;
  }

  /** Forgets a host (its messages stay); false when there was none. */
  deleteHost(id: string): boolean {
    return this.stmt.deleteHost.run(id).changes > 0;
  }

  setHostAgents(id: string, agents: unknown[], now: number): boolean {
    return this.stmt.setAgents.run(JSON.stringify(agents), now, id).changes > 0;
  }

  hosts(): HostRow[] {
    return (this.stmt.hosts.all() as RawHost[]).map(toHost);
  }

  host(id: string): HostRow | undefined {
    const row = this.stmt.host.get(id) as RawHost | undefined;
    return row ? toHost(row) : undefined;
  }

  latestMessageId(): number {
    return (this.stmt.latest.get() as { latest: number }).latest;
  }

  insertMessage(message: Omit<MessageRow, "id">): MessageRow {
    const info = this.stmt.insertMessage.run(
      message.to,
      message.from ?? null,
      message.kind,
      message.body,
      JSON.stringify(message.payload),
      JSON.stringify(message.meta),
      message.createdAt,
    );
    return { ...message, id: Number(info.lastInsertRowid) };
  }

  /** At most `limit` messages for `to` above `sinceId`, oldest first. */
  messagesFor(to: string, sinceId: number, unreadOnly: boolean, limit = 500): MessageRow[] {
    const rows = unreadOnly ? this.stmt.unreadFor.all(to, sinceId, to, limit) : this.stmt.messagesFor.all(to, sinceId, limit);
    return (rows as RawMessage[]).map(toMessage);
  }

  message(id: number): MessageRow | undefined {
    const row = this.stmt.message.get(id) as RawMessage | undefined;
    return row ? toMessage(row) : undefined;
  }

  /** Records that these messages were handed to their addressee (a poll answered with them). */
  markDelivered(ids: number[], now: number): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.stmt.markDelivered.run(now, id);
    })();
  }

  /** Whether message `id` has reached its addressee: handed to it in a poll answer, or read by it. */
  delivered(id: number): boolean {
    return this.stmt.delivered.get(id) !== undefined;
  }

  markRead(id: number, reader: string, now: number): void {
    this.stmt.markRead.run(id, reader, now);
  }

  setResult(id: number, result: unknown, now: number): void {
    this.stmt.setResult.run(id, JSON.stringify(result), now);
  }

  result(id: number): unknown {
    const row = this.stmt.result.get(id) as { result: string } | undefined;
    return row ? JSON.parse(row.result) : undefined;
  }

  /** Creates or replaces an agent record; `owner` is the host whose token created it (null: the admin). */
  upsertAgent(id: string, record: Record<string, unknown>, now: number, owner: string | null = null): void {
    this.stmt.upsertAgent.run(id, JSON.stringify(record), now, owner);
  }

  /** Every agent record, or only those `owner` created. */
  agents(owner?: string): Array<Record<string, unknown>> {
    const rows = owner === undefined ? this.stmt.agents.all() : this.stmt.agentsOf.all(owner);
    return (rows as Array<{ record: string }>).map((r) => JSON.parse(r.record) as Record<string, unknown>);
  }

  /** The host that owns a record: its id, null for the admin's, undefined when there is no such record. */
  agentOwner(id: string): string | null | undefined {
    const row = this.stmt.agentOwner.get(id) as { owner: string | null } | undefined;
    return row ? row.owner : undefined;
  }

  deleteAgent(id: string): boolean {
    return this.stmt.deleteAgent.run(id).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}

interface RawHost {
  id: string;
  registration: string;
  registered_at: number;
  last_seen: number;
  last_heartbeat: number | null;
  offline_since: number | null;
  agents: string;
}

interface RawMessage {
  id: number;
  to_agent: string;
  from_agent: string | null;
  kind: string;
  body: string;
  payload: string;
  meta: string;
  created_at: number;
}

function toHost(row: RawHost): HostRow {
  return {
    id: row.id,
    registration: JSON.parse(row.registration) as Record<string, unknown>,
    registeredAt: row.registered_at,
    lastSeen: row.last_seen,
    ...(row.last_heartbeat !== null ? { lastHeartbeat: row.last_heartbeat } : {}),
    ...(row.offline_since !== null ? { offlineSince: row.offline_since } : {}),
    agents: JSON.parse(row.agents) as Array<Record<string, unknown>>,
  };
}

function toMessage(row: RawMessage): MessageRow {
  return {
    id: row.id,
    to: row.to_agent,
    ...(row.from_agent !== null ? { from: row.from_agent } : {}),
    kind: row.kind,
    body: row.body,
    createdAt: row.created_at,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    meta: JSON.parse(row.meta) as Record<string, unknown>,
  };
}
