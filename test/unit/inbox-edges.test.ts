import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineControl } from "../../core/controls.js";
import { realClock } from "../../core/inbox.js";
import { gate, inboxSetup, msg, poke, settle } from "../support/inbox.js";

// The edges of the inbox's ordering and cursor: messages polled out of
// order, several unread at once, replays below the cursor, a label's alias
// while its spawn runs, timestamps, and the real clock.

const setups: ReturnType<typeof inboxSetup>[] = [];
afterEach(() => setups.splice(0).forEach((s) => s.remove()));
function setup(options?: Parameters<typeof inboxSetup>[0]) {
  const s = inboxSetup(options);
  setups.push(s);
  return s;
}

describe("order and cursor", () => {
  it("runs messages about one agent in id order even when the relay lists them out of order", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(3, { action: "poke", agent: "a", tag: "3" }), msg(1, { action: "poke", agent: "a", tag: "1" }), msg(2, { action: "poke", agent: "a", tag: "2" })]);
    await inbox.idle();
    expect(log).toEqual(["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  it("with several messages left unread, polls again from before the lowest of them", async () => {
    const { inbox, journal, controls } = setup();
    controls.declare("test", poke([]));
    journal.entry = () => {
      throw new Error("disk I/O error");
    };
    inbox.take([msg(2, { action: "poke", agent: "a", tag: "2" }), msg(4, { action: "poke", agent: "b", tag: "4" })]);
    await inbox.idle();
    // The relay offered nothing below 2: the cursor may pass 1, never 2.
    expect([inbox.cursor, inbox.pollAfter]).toEqual([1, 1]);
  });

  it("never moves the cursor back when messages below it are delivered again", async () => {
    const { inbox, journal, controls } = setup();
    const held = gate();
    controls.declare("test", poke([], new Map([["3", held.promise]])));
    inbox.take([msg(5, { action: "poke", agent: "a", tag: "5" })]);
    await inbox.idle();
    expect([inbox.cursor, journal.cursor]).toEqual([5, 5]);
    // 2 and 3 come late (a replay); 2 is done while 3 is still running.
    inbox.take([msg(2, { action: "poke", agent: "b", tag: "2" }), msg(3, { action: "poke", agent: "c", tag: "3" })]);
    await settle();
    expect([inbox.cursor, journal.cursor]).toEqual([5, 5]);
    held.open();
    await inbox.idle();
    expect([inbox.cursor, journal.cursor]).toEqual([5, 5]);
  });

  it("idle waits for a handler that waits on a timer", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    controls.declare("test", {
      action: "slow",
      fields: {},
      key: () => "a",
      handle: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        log.push("done");
        return { ok: true, action: "slow", message: "", agents: [] };
      },
    });
    inbox.take([msg(1, { action: "slow" })]);
    await inbox.idle();
    expect(log).toEqual(["done"]);
  });
});

describe("a spawn's label", () => {
  it("still names the spawning agent after other messages are done", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    const held = gate();
    controls.declare(
      "test",
      defineControl({
        action: "make",
        fields: { name: z.string() },
        key: (c) => ({ agent: `ar-${c.name}`, aliases: [c.name] }),
        async handle({ control }) {
          log.push(`start make ${control.name}`);
          await held.promise;
          log.push(`end make ${control.name}`);
          return { ok: true, action: "make", message: "", agents: [] };
        },
      }),
    );
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "make", name: "a" }), msg(2, { action: "poke", agent: "b", tag: "other" })]);
    await settle();
    expect(log).toEqual(["start make a", "start other", "end other"]);
    inbox.take([msg(3, { action: "poke", agent: "a", tag: "by label" })]);
    await settle();
    expect(log.slice(3)).toEqual([]);
    held.open();
    await inbox.idle();
    expect(log.slice(3)).toEqual(["end make a", "start by label", "end by label"]);
  });
});

describe("timestamps", () => {
  it("a control without a timestamp is never expired, however far ahead the relay's clock is", async () => {
    const { inbox, controls, sent } = setup({ clockOffsetMs: 120_000 });
    const log: string[] = [];
    controls.declare("test", poke(log));
    // (msg() puts NOW for an undefined timestamp: the message is built here without one.)
    inbox.take([{ id: 1, kind: "control", payload: { orchestratorControl: { action: "poke", tag: "t" } } }]);
    await inbox.idle();
    expect(log).toEqual(["start t", "end t"]);
    expect(sent.answers[0]![1].ok).toBe(true);
  });

  it("takes 1e12 as milliseconds (2001), not seconds", async () => {
    const { inbox, controls } = setup({ host: { maxMessageAgeMs: Number.MAX_SAFE_INTEGER } });
    const seen: (number | undefined)[] = [];
    controls.declare("test", {
      action: "when",
      fields: {},
      key: () => "*",
      handle: ({ createdAt }) => (seen.push(createdAt), { ok: true, action: "when", message: "", agents: [] }),
    });
    inbox.take([msg(1, { action: "when" }, 1e12)]);
    await inbox.idle();
    expect(seen).toEqual([1e12]);
  });
});

describe("the real clock", () => {
  it("tells the time and waits", async () => {
    const before = Date.now();
    expect(realClock.now()).toBeGreaterThanOrEqual(before);
    await realClock.sleep(5);
    expect(Date.now()).toBeGreaterThan(before);
  });
});

