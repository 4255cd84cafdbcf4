import { describe, expect, it } from "vitest";
import type { ControlResult } from "../../core/types.js";
import { NOW, msg, poke, settle, useInboxes } from "../support/inbox.js";

// What the inbox answers besides a handler's own answer: expired controls
// (on the relay's clock), messages that are no control, invalid controls,
// replays after a crash, retries, and a journal it cannot read or write.

const setup = useInboxes();

describe("control age", () => {
  it.each([
    ["sent 2 minutes ago", NOW - 120_000, 0, "control expired: sent 120s ago, limit 60s"],
    ["sent 2 minutes ago, stamped in seconds", (NOW - 120_000) / 1000, 0, "control expired: sent 120s ago, limit 60s"],
    ["2 minutes old on the relay's clock, which is 100 s ahead", NOW + 100_000 - 120_000, 100_000, "control expired: sent 120s ago, limit 60s"],
    ["2 minutes old on the relay's clock, which is 100 s behind", NOW - 100_000 - 120_000, -100_000, "control expired: sent 120s ago, limit 60s"],
  ])("a control %s is answered expired and not run", async (_what, createdAt, clockOffsetMs, error) => {
    const { inbox, controls, sent } = setup({ clockOffsetMs });
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "poke", tag: "late" }, createdAt)]);
    await inbox.idle();
    expect(log).toEqual([]);
    expect(sent.answers).toEqual([[1, { ok: false, action: "poke", code: "expired", error }]]);
    expect(sent.acks).toEqual([1]);
  });

  it.each([
    ["sent just now", NOW, 0],
    ["exactly at the limit", NOW - 60_000, 0],
    ["sent 10 s ago, stamped in seconds", (NOW - 10_000) / 1000, 0],
    ["10 s old on the relay's clock, which is 100 s behind ours", NOW - 100_000 - 10_000, -100_000],
    ["without a timestamp", undefined, 0],
  ])("a control %s runs", async (_what, createdAt, clockOffsetMs) => {
    const { inbox, controls, sent } = setup({ clockOffsetMs });
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "poke", tag: "fresh" }, createdAt)]);
    await inbox.idle();
    expect(log).toEqual(["start fresh", "end fresh"]);
    expect(sent.answers).toEqual([[1, { ok: true, action: "poke", message: "poked fresh", agents: [] }]]);
  });

  it("hands the handler when the control was sent, on the relay's clock and on ours", async () => {
    const { inbox, controls } = setup({ clockOffsetMs: 5_000 });
    const seen: unknown[] = [];
    controls.declare("test", {
      action: "when",
      fields: {},
      key: () => "*",
      handle: ({ createdAt, createdAtLocal, messageId }) => (seen.push({ messageId, createdAt, createdAtLocal }), { ok: true, action: "when", message: "", agents: [] }),
    });
    inbox.take([msg(3, { action: "when" }, (NOW - 1_000) / 1000), msg(4, { action: "when" }, undefined)]);
    await inbox.idle();
    expect(seen).toEqual([
      { messageId: 3, createdAt: NOW - 1_000, createdAtLocal: NOW - 6_000 },
      { messageId: 4, createdAt: NOW, createdAtLocal: NOW - 5_000 },
    ]);
  });
});

describe("messages that are not a runnable control", () => {
  it("a message that is no control is acknowledged, not answered", async () => {
    const { inbox, sent } = setup();
    inbox.take([{ id: 1, kind: "chat", body: "hello" }]);
    await inbox.idle();
    expect(sent.answers).toEqual([]);
    expect(sent.acks).toEqual([1]);
    expect(inbox.cursor).toBe(1);
  });

  it("a control message without a control is answered invalid", async () => {
    const { inbox, sent } = setup();
    inbox.take([{ id: 1, kind: "control", body: "spawn please" }]);
    await inbox.idle();
    expect(sent.answers).toEqual([[1, { ok: false, action: "unknown", code: "invalid", error: "control message without a control payload" }]]);
    expect(sent.acks).toEqual([1]);
  });

  it("an invalid control is answered with the reason and never run; the messages after it run", async () => {
    const { inbox, controls, sent } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "poke", tag: 42 }), msg(2, { action: "poke", tag: "ok" })]);
    await inbox.idle();
    expect(log).toEqual(["start ok", "end ok"]);
    expect(sent.answers[0]).toEqual([1, { ok: false, action: "unknown", code: "invalid", error: expect.stringMatching(/^invalid control: tag: /) }]);
    expect(sent.acks).toEqual([1, 2]);
  });

  it("a parser that fails in another way is answered invalid with its message", async () => {
    const { inbox, sent } = setup({
      host: {
        parseControl: () => {
          throw new Error("parser broke");
        },
      },
    });
    inbox.take([msg(1, { action: "poke" })]);
    await inbox.idle();
    expect(sent.answers).toEqual([[1, { ok: false, action: "unknown", code: "invalid", error: "parser broke" }]]);
  });

  it("ignores messages whose id is not a safe integer, and counts only new ones", async () => {
    const { inbox, controls, sent } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    expect(inbox.take([msg(1.5, { action: "poke", tag: "x" }), msg(Number.NaN, { action: "poke", tag: "y" }), msg(2, { action: "poke", tag: "z" })])).toBe(1);
    expect(inbox.take([msg(2, { action: "poke", tag: "z" })])).toBe(0); // being handled already
    await inbox.idle();
    expect(log).toEqual(["start z", "end z"]);
    expect(sent.acks).toEqual([2]);
  });

  it("takes nothing once the daemon stops", async () => {
    const { inbox, controls, sent } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.running = false;
    expect(inbox.take([msg(1, { action: "poke", tag: "x" })])).toBe(0);
    await inbox.idle();
    expect(log).toEqual([]);
    expect(sent.acks).toEqual([]);
  });
});

describe("replays and retries", () => {
  it("a control whose handling began before a crash runs again as a replay; one done is not run again", async () => {
    const { make, journal, controls, sent } = setup();
    journal.started(5);
    journal.started(6);
    journal.done(6, { ok: true, action: "poke", message: "poked six", agents: [] });
    const inbox = make();
    inbox.load();
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(5, { action: "poke", tag: "five" }), msg(6, { action: "poke", tag: "six" }), msg(7, { action: "poke", tag: "seven" })]);
    await inbox.idle();
    expect(log).toEqual(["start five (replay)", "end five", "start seven", "end seven"]);
    expect(sent.answers.map(([id, r]) => [id, r.ok && r.message])).toEqual([[5, "poked five"], [6, "poked six"], [7, "poked seven"]]);
  });

  it("after a journal was lost, controls up to the relay's last id run as replays", async () => {
    const { inbox, controls } = setup();
    inbox.lostUpTo = 2;
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(2, { action: "poke", tag: "two" }), msg(3, { action: "poke", tag: "three" })]);
    await inbox.idle();
    expect(log).toEqual(["start two (replay)", "end two", "start three", "end three"]);
  });

  it("tries a retryable failure 3 more times, then answers the failure (without the retry flag)", async () => {
    const { inbox, controls, sent, waits } = setup();
    let runs = 0;
    controls.declare("test", {
      action: "flaky",
      fields: {},
      key: () => "*",
      handle: () => (runs++, { ok: false, action: "flaky", code: "failed", error: "tmux busy", retryable: true }) as ControlResult,
    });
    inbox.take([msg(1, { action: "flaky" })]);
    await inbox.idle();
    expect(runs).toBe(4);
    expect(waits).toEqual([500, 1000, 2000]);
    expect(sent.answers).toEqual([[1, { ok: false, action: "flaky", code: "failed", error: "tmux busy" }]]);
  });

  it("does not try a failure again when it is not retryable, nor once the daemon stops", async () => {
    const { inbox, controls, sent } = setup();
    let runs = 0;
    controls.declare("test", {
      action: "flaky",
      fields: { retry: (await import("zod")).z.boolean() },
      key: () => "*",
      handle: ({ control }) => {
        runs++;
        if (control.retry) inbox.running = false; // the daemon stops while it runs
        return { ok: false, action: "flaky", code: "failed", error: "no", retryable: control.retry } as ControlResult;
      },
    });
    inbox.take([msg(1, { action: "flaky", retry: false })]);
    await inbox.idle();
    expect(runs).toBe(1);
    inbox.take([msg(2, { action: "flaky", retry: true })]);
    await inbox.idle();
    expect(runs).toBe(2);
    expect(sent.answers.map(([id]) => id)).toEqual([1, 2]);
  });
});

describe("a journal it cannot use", () => {
  it("cannot read: the message is left unread (no answer, no ack) and asked for again until it can be read", async () => {
    const { inbox, journal, controls, sent, logs } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    const entry = journal.entry.bind(journal);
    journal.entry = () => {
      throw new Error("disk I/O error");
    };
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect([log, sent.answers, sent.acks]).toEqual([[], [], []]);
    // The next poll asks for it again (the relay offers only ids after the one asked with).
    expect([inbox.cursor, inbox.pollAfter]).toEqual([0, 0]);
    expect(logs.some((l) => /ERROR .*cannot read the journal .*disk I\/O error/.test(l))).toBe(true);
    journal.entry = entry;
    inbox.take([msg(1, { action: "poke", tag: "one" })]); // the relay delivers it again
    await inbox.idle();
    expect(log).toEqual(["start one", "end one"]);
    expect(sent.acks).toEqual([1]);
    expect([inbox.cursor, inbox.pollAfter]).toEqual([1, 1]);
  });

  it("cannot write: answered with an error, neither run nor acked; acked once the journal takes the record", async () => {
    const { inbox, journal, controls, sent } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    const { started, done } = journal;
    const full = () => {
      throw new Error("database or disk is full");
    };
    journal.started = full;
    journal.done = full;
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    inbox.redeliver(); // the next poll: the journal still cannot be written
    await settle();
    expect(log).toEqual([]);
    expect(sent.answers).toEqual([[1, { ok: false, action: "poke", code: "journal", error: `not run: the daemon cannot write its journal ${journal.path}` }]]);
    expect(sent.acks).toEqual([]);
    journal.started = started;
    journal.done = done;
    inbox.redeliver();
    await settle();
    expect(sent.acks).toEqual([1]);
    expect(journal.entry(1)).toMatchObject({ state: "done", answered: true, acked: true });
    expect(log).toEqual([]);
  });
});
