import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { definePlugin, type ControlResult, type Orchestrator, type RelayMessage, type RelayTransport } from "../../core/index.js";
import { Journal, JournalStorageError } from "../../core/journal.js";
import { controlsPlugin } from "../../plugins/controls/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { waitFor } from "../support/wait.js";

// The journal itself, and the relay session's guarantees over it, with a
// fake transport: what is answered and acked when the journal cannot be written.

let home: TestHome;
beforeEach(() => {
  home = new TestHome();
});
afterEach(() => home.remove());

describe("journal file", () => {
  it("keeps the done messages, their answers and what the relay confirmed across a reopen", () => {
    const journal = new Journal(home.stateDir, "box");
    journal.open();
    journal.started(1);
    journal.started(2);
    journal.done(1, { ok: true });
    journal.answered(1);
    journal.setCursor(1);
    journal.setEpoch("e1");
    journal.close();
    const again = new Journal(home.stateDir, "box");
    expect(again.open()).toEqual({});
    expect([again.cursor, again.epoch]).toEqual([1, "e1"]);
    expect(again.entries()).toEqual([
      { id: 1, state: "done", result: { ok: true }, answered: true, acked: false },
      { id: 2, state: "started", answered: false, acked: false },
    ]);
    expect(again.undelivered().map((e) => e.id)).toEqual([1]);
    again.close();
  });

  it.each([
    ["garbage", "not a database at all, not even close"],
    ["truncated to nothing", ""],
  ])("a %s journal is kept aside and reported, and a new one starts", (_name, content) => {
    mkdirSync(home.stateDir, { recursive: true });
    writeFileSync(join(home.stateDir, "box.journal.db"), content);
    const journal = new Journal(home.stateDir, "box");
    const opened = journal.open(1234);
    expect(opened.corrupt?.keptAs).toBe(join(home.stateDir, "box.journal.db.corrupt-1234"));
    expect(readFileSync(opened.corrupt!.keptAs, "utf8")).toBe(content);
    expect(journal.entries()).toEqual([]);
    journal.close();
  });

  it("takes over a 0.x JSON state file; a damaged one is kept aside", () => {
    mkdirSync(home.stateDir, { recursive: true });
    writeFileSync(join(home.stateDir, "box.json"), JSON.stringify({ cursor: 7, done: [6, 7], started: [8], results: { 7: { ok: true } } }));
    const journal = new Journal(home.stateDir, "box");
    expect(journal.open().migrated).toBe(join(home.stateDir, "box.json"));
    expect(journal.cursor).toBe(7);
    expect(journal.entries().map((e) => [e.id, e.state])).toEqual([[6, "done"], [7, "done"], [8, "started"]]);
    journal.close();
    writeFileSync(join(home.stateDir, "other.json"), "{ cut off");
    const other = new Journal(home.stateDir, "other");
    expect(other.open(99).corrupt?.keptAs).toBe(join(home.stateDir, "other.json.corrupt-99"));
    other.close();
    expect(readdirSync(home.stateDir)).toContain("box.json.migrated");
  });

  it("a state folder that cannot be made names the path, the cause and the fix", () => {
    writeFileSync(join(home.root, "file"), "");
    const journal = new Journal(join(home.root, "file", "state"), "box");
    expect(() => journal.open()).toThrow(JournalStorageError);
    expect(() => journal.open()).toThrow(/cannot keep the message journal in .*file\/state: a part of the path is not a directory \(ENOTDIR\); make the state folder writable/);
  });
});

/** A relay with one queue of messages that records answers and acks. */
function fakeRelay() {
  const queue: RelayMessage[] = [];
  const answers = new Map<number, ControlResult>();
  const acks: number[] = [];
  const transport: RelayTransport = {
    async register() {},
    async heartbeat() {},
    async latestMessageId() {
      return queue.at(-1)?.id ?? 0;
    },
    async fetchMessages(sinceId) {
      return queue.filter((m) => m.id > sinceId && !acks.includes(m.id));
    },
    async ack(id) {
      acks.push(id);
    },
    async answer(id, result) {
      if (!answers.has(id)) answers.set(id, result);
    },
    async report() {},
  };
  const plugin = definePlugin({ name: "fake-relay", role: "transport", apply: (ctx) => ctx.provideTransport(transport) });
  return { queue, answers, acks, plugin };
}

describe("journal write failures", () => {
  let core: Orchestrator | undefined;
  afterEach(async () => core?.stop());

  it("a control is never run nor acked while the journal cannot be written; it is answered with an error, and acked once it can", async () => {
    const relay = fakeRelay();
    const harness = await createTestOrchestrator(home, { pollIntervalMs: 50 }, { builtins: [controlsPlugin(), relay.plugin] });
    core = harness.orchestrator;
    await core.start();
    const journal = core.journal!;
    const { started, done } = journal;
    const full = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    journal.started = full;
    journal.done = full;
    relay.queue.push({ id: 1, kind: "control", createdAt: Date.now(), payload: { orchestratorControl: { action: "shutdown" } } });
    await waitFor("the answer", () => relay.answers.get(1));
    expect(relay.answers.get(1)).toMatchObject({ ok: false, code: "journal", error: expect.stringContaining("cannot write its journal") });
    await new Promise((r) => setTimeout(r, 200));
    expect(relay.acks).toEqual([]);
    expect(harness.logs.some((l) => /ERROR .*cannot write the journal .*database or disk is full.*not acknowledged/.test(l))).toBe(true);
    journal.started = started;
    journal.done = done;
    await waitFor("the ack once the journal takes writes", () => relay.acks.includes(1));
    expect(journal.entry(1)).toMatchObject({ state: "done", acked: true });
  });
});
