import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../core/journal.js";

// What the journal keeps and forgets: compaction of old delivered messages,
// a reset when the relay's ids start over, the prompts of starting agents,
// an owner-only file, and what a 0.x state file brings with it.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ar-journal-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function open(id = "box"): Journal {
  const journal = new Journal(dir, id);
  journal.open();
  return journal;
}

describe("the journal keeps", () => {
  it("the newest 5,000 messages and every undelivered one when compacted; older delivered ones go", () => {
    const journal = open();
    for (let id = 1; id <= 5_010; id++) {
      journal.done(id, { ok: true, action: "poke", message: String(id), agents: [] });
      if (id !== 3) journal.answered(id); // message 3's answer never reached the relay
      journal.acked(id);
    }
    journal.compact();
    const ids = journal.entries().map((e) => e.id);
    expect(ids).toHaveLength(5_001);
    expect(ids.slice(0, 2)).toEqual([3, 11]);
    expect(journal.undelivered().map((e) => e.id)).toEqual([3]);
    journal.close();
  });

  it("done messages without an answer as delivered, and started ones as not done", () => {
    const journal = open();
    journal.started(1);
    journal.done(2, undefined);
    journal.started(2); // a late "started" does not undo "done"
    expect(journal.entries()).toEqual([
      { id: 1, state: "started", answered: false, acked: false },
      { id: 2, state: "done", answered: true, acked: false },
    ]);
    expect(journal.entry(3)).toBeUndefined();
    journal.close();
  });

  it("no message after a reset, the cursor at 0, and the prompts of starting agents still", () => {
    const journal = open();
    journal.done(4, undefined);
    journal.setCursor(4);
    journal.promptPending("ar-claude-a", 100);
    journal.reset();
    expect([journal.entries(), journal.cursor]).toEqual([[], 0]);
    expect(journal.promptUndelivered("ar-claude-a", 100)).toBe(true);
    journal.close();
  });

  it("whether the prompt of this start of an agent is still to be typed, across a reopen", () => {
    const journal = open();
    expect(journal.promptUndelivered("ar-claude-a", 100)).toBe(false); // never recorded
    journal.promptPending("ar-claude-a", 100);
    journal.promptPending("ar-claude-b", 100);
    journal.promptDelivered("ar-claude-b", 100);
    journal.close();
    const again = open();
    expect(again.promptUndelivered("ar-claude-a", 100)).toBe(true);
    expect(again.promptUndelivered("ar-claude-b", 100)).toBe(false);
    // A later start of the same session is another prompt.
    expect(again.promptUndelivered("ar-claude-a", 200)).toBe(false);
    again.close();
  });

  it("its files readable by their owner only", () => {
    const journal = open();
    journal.started(1);
    const files = readdirSync(dir).filter((f) => f.startsWith("box.journal.db"));
    expect(files).toContain("box.journal.db");
    for (const f of files) expect((statSync(join(dir, f)).mode & 0o777).toString(8)).toBe("600");
    journal.close();
  });

  it("from a 0.x state file: the answers of done messages (as delivered), started ones, and no cursor when it had none", () => {
    writeFileSync(join(dir, "box.json"), JSON.stringify({ done: [6, "x", 7.5], started: [8], results: { 6: { ok: false, action: "spawn", code: "cwd", error: "nope" } } }));
    const journal = open();
    expect(journal.cursor).toBe(0);
    expect(journal.entries()).toEqual([
      { id: 6, state: "done", result: { ok: false, action: "spawn", code: "cwd", error: "nope" }, answered: true, acked: true },
      { id: 8, state: "started", answered: false, acked: false },
    ]);
    expect(journal.undelivered()).toEqual([]);
    journal.close();
  });
});
