import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineControl } from "../../core/controls.js";
import { gate, inboxSetup, msg, poke, settle } from "../support/inbox.js";

// A control that may wait long for its agent (a queued `send`) does not hold
// up a control for every agent (a shutdown of all) that came after it.

const setups: ReturnType<typeof inboxSetup>[] = [];
afterEach(() => setups.splice(0).forEach((s) => s.remove()));

/** "wait": about agent `a`, held until its gate opens; `longWait` as given. */
function waiting(log: string[], held: Promise<void>, longWait: boolean) {
  return defineControl({
    action: "wait",
    fields: {},
    key: () => "send:a",
    longWait,
    async handle() {
      log.push("start wait");
      await held;
      log.push("end wait");
      return { ok: true, action: "wait", message: "", agents: [] };
    },
  });
}

describe("long waits", () => {
  it.each([
    [true, ["start wait", "start all", "end all", "end wait"]],
    [false, ["start wait", "end wait", "start all", "end all"]],
  ])("longWait %s: the order of a later control for every agent", async (longWait, order) => {
    const s = inboxSetup();
    setups.push(s);
    const log: string[] = [];
    const held = gate();
    s.controls.declare("test", waiting(log, held.promise, longWait));
    s.controls.declare("test", poke(log));
    s.inbox.take([msg(1, { action: "wait" }), msg(2, { action: "poke", tag: "all" })]);
    await settle(20);
    held.open();
    await s.inbox.idle();
    expect(log).toEqual(order);
    expect(s.sent.answers.map(([id]) => id).sort()).toEqual([1, 2]);
  });

  it("still waits for a control for every agent sent before it", async () => {
    const s = inboxSetup();
    setups.push(s);
    const log: string[] = [];
    const held = gate();
    const gates = new Map([["all", held.promise]]);
    s.controls.declare("test", waiting(log, Promise.resolve(), true));
    s.controls.declare("test", poke(log, gates));
    s.inbox.take([msg(1, { action: "poke", tag: "all" }), msg(2, { action: "wait" })]);
    await settle(20);
    held.open();
    await s.inbox.idle();
    expect(log).toEqual(["start all", "end all", "start wait", "end wait"]);
  });
});
