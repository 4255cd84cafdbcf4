import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EventFileTail, MAX_EVENT_LINE, parseEventLine, prepareEventFile } from "../../core/agent-events.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "aro-events-"));
  dirs.push(dir);
  return dir;
};

describe("event lines", () => {
  it("normalises claude's hook names and codex's notify type, keeping only small fields", () => {
    const now = 1_000_000;
    expect(parseEventLine(JSON.stringify({ event: "UserPromptSubmit", at: now - 5, prompt: "fix it", cwd: "/x" }), now)).toEqual({ kind: "prompt-submit", at: now - 5, data: { prompt: "fix it" } });
    expect(parseEventLine(JSON.stringify({ event: "PermissionRequest", tool: "Bash" }), now)).toEqual({ kind: "permission-request", at: now, data: { toolName: "Bash" } });
    expect(parseEventLine(JSON.stringify({ event: "agent-turn-complete" }), now)).toMatchObject({ kind: "stop" });
    expect(parseEventLine(JSON.stringify({ event: "SomethingNew" }), now)).toBeUndefined();
    // A time far from now is not believed.
    expect(parseEventLine(JSON.stringify({ event: "Stop", at: 5 }), now)).toMatchObject({ at: now });
  });

  it("answers an error for hostile lines: not JSON, wrong types, too long", () => {
    expect(parseEventLine("not json")).toEqual({ error: "a line that is not JSON" });
    expect(parseEventLine(JSON.stringify({ event: 5 }))).toMatchObject({ error: expect.stringMatching(/^a line that is not an event \(event: /) });
    expect(parseEventLine(JSON.stringify(["Stop"]))).toMatchObject({ error: expect.stringMatching(/not an event/) });
    expect(parseEventLine("x".repeat(MAX_EVENT_LINE + 1))).toEqual({ error: `a line of ${MAX_EVENT_LINE + 1} characters (at most ${MAX_EVENT_LINE})` });
  });
});

describe("EventFileTail", () => {
  it("reads whole lines only, skips an over-long one across reads, and starts over when the file is made anew", () => {
    const file = join(tempDir(), "s.jsonl");
    writeFileSync(file, "");
    const tail = new EventFileTail(file);
    appendFileSync(file, '{"event":"Stop"}\n{"event":"Sto');
    expect(tail.read()).toEqual(['{"event":"Stop"}']);
    appendFileSync(file, 'p"}\n' + "y".repeat(MAX_EVENT_LINE + 10));
    expect(tail.read()).toEqual(['{"event":"Stop"}']);
    appendFileSync(file, "y".repeat(100) + '\n{"event":"Stop"}\n');
    const read = tail.read();
    expect(read[0]).toMatchObject({ tooLong: expect.any(Number) });
    expect(read.slice(1)).toEqual(['{"event":"Stop"}']);
    writeFileSync(file, '{"event":"UserPromptSubmit"}\n');
    expect(tail.read()).toEqual(['{"event":"UserPromptSubmit"}']);
  });

  it("prepares an owner-only folder and file", () => {
    const stateDir = tempDir();
    const file = prepareEventFile(stateDir, "ar-claude-a");
    expect(statSync(join(stateDir, "events")).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
