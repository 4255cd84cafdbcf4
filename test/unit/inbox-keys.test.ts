import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineControl } from "../../core/controls.js";
import { gate, inboxSetup, msg, poke, settle } from "../support/inbox.js";

// Which controls wait for which: an agent named by another name (its label,
// while its spawn runs) is the same agent; a control without a usable key
// waits for every other.

const setups: ReturnType<typeof inboxSetup>[] = [];
afterEach(() => setups.splice(0).forEach((s) => s.remove()));
function setup(options?: Parameters<typeof inboxSetup>[0]) {
  const s = inboxSetup(options);
  setups.push(s);
  return s;
}

/** "make": creates agent `name` (key: its session name, alias: the name), held until its gate opens. */
function make(log: string[], held: Promise<void>) {
  return defineControl({
    action: "make",
    fields: { name: z.string() },
    key: (c) => ({ agent: `ar-${c.name}`, aliases: [c.name] }),
    async handle({ control }) {
      log.push(`start make ${control.name}`);
      await held;
      log.push(`end make ${control.name}`);
      return { ok: true, action: "make", message: "", agents: [] };
    },
  });
}

describe("ordering by agent", () => {
  it("a control naming an agent by its label waits for the agent's spawn, which is keyed by its session name", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    const held = gate();
    controls.declare("test", make(log, held.promise));
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "make", name: "a" }), msg(2, { action: "poke", agent: "a", tag: "by label" }), msg(3, { action: "poke", agent: "b", tag: "other" })]);
    await settle();
    expect(log).toEqual(["start make a", "start other", "end other"]);
    held.open();
    await inbox.idle();
    expect(log.slice(3)).toEqual(["end make a", "start by label", "end by label"]);
  });

  it("a control naming a managed agent by another name waits for controls that named it by its session name", async () => {
    const { inbox, controls } = setup({ host: { agentKey: (target) => (target === "backend" || target === "agent-7" ? "ar-claude-backend" : undefined) } });
    const log: string[] = [];
    const held = gate();
    controls.declare("test", poke(log, new Map([["first", held.promise]])));
    inbox.take([
      msg(1, { action: "poke", agent: "ar-claude-backend", tag: "first" }),
      msg(2, { action: "poke", agent: "agent-7", tag: "by id" }),
      msg(3, { action: "poke", agent: "backend", tag: "by label" }),
    ]);
    await settle();
    expect(log).toEqual(["start first"]);
    held.open();
    await inbox.idle();
    expect(log).toEqual(["start first", "end first", "start by id", "end by id", "start by label", "end by label"]);
  });

  it("a control whose key cannot be had waits for every earlier control and holds every later one", async () => {
    const { inbox, controls, logs } = setup();
    const log: string[] = [];
    const held = gate();
    controls.declare("test", poke(log, new Map([["a1", held.promise]])));
    controls.declare(
      "test",
      defineControl({
        action: "odd",
        fields: {},
        key: () => {
          throw new Error("no key today");
        },
        handle: () => (log.push("odd"), { ok: true, action: "odd", message: "", agents: [] }),
      }),
    );
    inbox.take([msg(1, { action: "poke", agent: "a", tag: "a1" }), msg(2, { action: "odd" }), msg(3, { action: "poke", agent: "b", tag: "b1" })]);
    await settle();
    expect(log).toEqual(["start a1"]);
    expect(logs.some((l) => /WARN .*message 2: no ordering key \(no key today\); ordered after every other/.test(l))).toBe(true);
    held.open();
    await inbox.idle();
    expect(log).toEqual(["start a1", "end a1", "odd", "start b1", "end b1"]);
  });

  it("forgets a spawn's label once every message is done: a later control by that name is another agent's", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    controls.declare("test", make(log, Promise.resolve()));
    const held = gate();
    controls.declare("test", poke(log, new Map([["x1", held.promise]])));
    inbox.take([msg(1, { action: "make", name: "x" })]);
    await inbox.idle();
    // "x" is now only a name: a control for "x" and one for the session "ar-x" no longer wait for each other.
    inbox.take([msg(2, { action: "poke", agent: "ar-x", tag: "x1" }), msg(3, { action: "poke", agent: "x", tag: "x2" })]);
    await settle();
    expect(log.slice(2)).toEqual(["start x1", "start x2", "end x2"]);
    held.open();
    await inbox.idle();
  });
});
