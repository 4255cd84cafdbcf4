import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, JournalStorageError } from "../../core/journal.js";

// The journal's files: modes of files left by an earlier run, something
// else in its place, closing, and 0.x state files with parts missing.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ar-journal-files-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (f: string) => (statSync(join(dir, f)).mode & 0o777).toString(8);

describe("the journal's files", () => {
  it("made owner-only on open when an earlier run left them readable by others", () => {
    const first = new Journal(dir, "box");
    first.open();
    first.started(1);
    first.close();
    for (const suffix of ["", "-wal", "-shm"]) {
      const f = join(dir, `box.journal.db${suffix}`);
      if (!existsSync(f)) writeFileSync(f, "");
      chmodSync(f, 0o644);
    }
    const again = new Journal(dir, "box");
    again.open();
    expect(again.entries().map((e) => e.id)).toEqual([1]);
    for (const suffix of ["", "-wal", "-shm"]) expect(mode(`box.journal.db${suffix}`)).toBe("600");
    again.close();
  });

  it("something that is no file in its place is an error that names it, and is left alone", () => {
    mkdirSync(join(dir, "box.journal.db"));
    const journal = new Journal(dir, "box");
    let err: unknown;
    try {
      journal.open();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JournalStorageError);
    expect((err as Error).name).toBe("JournalStorageError");
    expect((err as Error).message).toMatch(/cannot keep the message journal in .*box\.journal\.db/);
    expect(readdirSync(dir)).toEqual(["box.journal.db"]);
  });

  it("closes once; a journal never opened can be closed too", () => {
    new Journal(dir, "never").close();
    const journal = new Journal(dir, "box");
    journal.open();
    journal.close();
    journal.close();
    expect(() => journal.cursor).toThrow(/not open/);
  });
});

describe("a 0.x state file with parts missing", () => {
  it("without started messages or answers: its done messages and cursor are taken over", () => {
    writeFileSync(join(dir, "box.json"), JSON.stringify({ cursor: 3, done: [1, 2] }));
    const journal = new Journal(dir, "box");
    expect(journal.open().migrated).toBe(join(dir, "box.json"));
    expect(journal.cursor).toBe(3);
    expect(journal.entries()).toEqual([
      { id: 1, state: "done", answered: true, acked: true },
      { id: 2, state: "done", answered: true, acked: true },
    ]);
    journal.close();
  });

  it("answers that are no object are ignored", () => {
    writeFileSync(join(dir, "box.json"), JSON.stringify({ done: [1], results: "abc" }));
    const journal = new Journal(dir, "box");
    expect(journal.open().migrated).toBe(join(dir, "box.json"));
    expect(journal.entries()).toEqual([{ id: 1, state: "done", answered: true, acked: true }]);
    journal.close();
  });
});
