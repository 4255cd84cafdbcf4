import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { AgentEvent } from "./types.js";

/** The longest event line read; a longer one is dropped (an agent may write anything there). */
export const MAX_EVENT_LINE = 4_096;
/** The most read from one event file in one look; the rest waits for the next. */
const MAX_READ = 256 * 1024;

/**
 * The file an agent's events are appended to: `<stateDir>/events/<session>.jsonl`.
 * A launcher puts this path (a constant, shell-quoted) into the command the
 * agent runs for each event.
 */
export function eventFilePath(stateDir: string, session: string): string {
  return join(stateDir, "events", `${session}.jsonl`);
}

/**
 * The event command script (`event-hook.cjs`, plain CommonJS shipped with
 * the core's sources): next to this file when run from the sources, and from
 * `dist/core/` two folders up in the package's `core/`.
 */
export const EVENT_HOOK_SCRIPT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "event-hook.cjs"), join(here, "..", "..", "core", "event-hook.cjs")];
  return candidates.find((file) => existsSync(file)) ?? candidates[0]!;
})();

/**
 * The argv that appends one event to a session's event file: this node, the
 * script, the file; all constants. A launcher passes it as an argv (codex's
 * `notify`) or shell-quoted (claude's hooks); the event itself comes on
 * stdin or as one more, last argument.
 */
export function eventCommandArgv(stateDir: string, session: string): string[] {
  return [process.execPath, EVENT_HOOK_SCRIPT, eventFilePath(stateDir, session)];
}

/** Creates the events folder (0700) and an empty event file (0600) for a new start of a session. */
export function prepareEventFile(stateDir: string, session: string): string {
  const dir = join(stateDir, "events");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = eventFilePath(stateDir, session);
  writeFileSync(file, "", { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** One line as the event command writes it (plugins/claude/event-hook.cjs). */
const eventLine = z
  .object({
    event: z.string().max(64),
    at: z.number().finite().optional(),
    prompt: z.string().max(1_000).optional(),
    tool: z.string().max(200).optional(),
    message: z.string().max(1_000).optional(),
    type: z.string().max(64).optional(),
  })
  .strip();

/** The agent's names of events, normalised (claude's hook names, codex's notify types). */
const KINDS: Record<string, AgentEvent["kind"]> = {
  UserPromptSubmit: "prompt-submit",
  PreToolUse: "tool-use",
  PostToolUse: "tool-done",
  PermissionRequest: "permission-request",
  Notification: "notification",
  Stop: "stop",
  SessionEnd: "session-end",
  "agent-turn-complete": "stop",
};

/**
 * Parses one line of an event file. Answers the event, `undefined` for an
 * event kind the core does not know (ignored quietly), or an error text for
 * a line that is not an event (logged once by the caller).
 */
export function parseEventLine(line: string, now = Date.now()): AgentEvent | undefined | { error: string } {
  if (line.length > MAX_EVENT_LINE) return { error: `a line of ${line.length} characters (at most ${MAX_EVENT_LINE})` };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { error: "a line that is not JSON" };
  }
  const parsed = eventLine.safeParse(json);
  if (!parsed.success) return { error: `a line that is not an event (${parsed.error.issues[0]?.path.join(".") || "root"}: ${parsed.error.issues[0]?.message})` };
  const kind = KINDS[parsed.data.event];
  if (!kind) return undefined;
  const data: Record<string, string> = {};
  if (parsed.data.prompt !== undefined) data.prompt = parsed.data.prompt.slice(0, 200);
  if (parsed.data.tool !== undefined) data.toolName = parsed.data.tool;
  if (parsed.data.message !== undefined) data.message = parsed.data.message.slice(0, 200);
  if (parsed.data.type !== undefined) data.type = parsed.data.type;
  // The agent's clock is this host's; a time from far away is not believed.
  const at = parsed.data.at !== undefined && Math.abs(parsed.data.at - now) < 60_000 ? parsed.data.at : now;
  return { kind, at, data };
}

/**
 * Reads what was appended to an event file since the last read: whole
 * lines only (a partial last line waits), a line that grew past the limit is
 * skipped up to its end. A file that shrank is read again from its start.
 */
export class EventFileTail {
  private offset = 0;
  private partial = "";
  private skipping = false;

  constructor(readonly file: string) {}

  /** Starts reading at the file's current end (what it holds already happened). */
  skipToEnd(): void {
    try {
      this.offset = statSync(this.file).size;
    } catch {
      this.offset = 0;
    }
  }

  /** New complete lines, and the over-long ones as their length (to be reported, not parsed). */
  read(): Array<string | { tooLong: number }> {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        this.offset = 0;
        this.partial = "";
        this.skipping = false;
      }
      if (size === this.offset) return [];
      const buffer = Buffer.alloc(Math.min(size - this.offset, MAX_READ));
      const read = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += read;
      return this.split(buffer.subarray(0, read).toString("utf8"));
    } finally {
      closeSync(fd);
    }
  }

  private split(chunk: string): Array<string | { tooLong: number }> {
    const out: Array<string | { tooLong: number }> = [];
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop()!;
    for (const part of parts) {
      if (this.skipping) {
        this.skipping = false;
        out.push({ tooLong: part.length + MAX_EVENT_LINE });
      } else if (part.length > MAX_EVENT_LINE) out.push({ tooLong: part.length });
      else if (part.trim() !== "") out.push(part);
    }
    if (this.partial.length > MAX_EVENT_LINE) {
      this.skipping = true;
      this.partial = "";
    }
    return out;
  }
}
