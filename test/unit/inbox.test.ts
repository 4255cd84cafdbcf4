import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ControlRegistry, type ControlDeclaration } from "../../core/controls.js";
import { createHooks } from "../../core/hooks.js";
import { Inbox, type Clock } from "../../core/inbox.js";
import { Journal } from "../../core/journal.js";
import { createLogger } from "../../core/logger.js";
import { Secrets } from "../../core/secrets.js";
import type { ControlResult, RelayMessage } from "../../core/types.js";

/** The inbox alone: a real journal in a temporary folder, a fake relay, a fake clock; no tmux, no sleeps. */
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const NOW = 1_800_000_000_000;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "ar-inbox-"));
  dirs.push(dir);
  const journal = new Journal(dir, "t");
  journal.open();
  const sent = { answers: [] as [number, ControlResult][], acks: [] as number[] };
  const transport = {
    clockOffsetMs: 0,
    async answer(id: number, result: ControlResult) {
      sent.answers.push([id, result]);
    },
    async ack(id: number) {
      sent.acks.push(id);
    },
  };
  const waits: number[] = [];
  const clock: Clock = { now: () => NOW, sleep: async (ms) => void waits.push(ms) };
  const controls = new ControlRegistry();
  const hooks = createHooks();
  const secrets = new Secrets();
  const host = {
    maxMessageAgeMs: 60_000,
    parseControl: (m: RelayMessage) => controls.parseMessage(m),
    controlKey: controls.keyOf.bind(controls),
    dispatchParsed: (parsed: Parameters<ControlRegistry["dispatch"]>[2], context: object) => controls.dispatch(hooks, secrets, parsed, context),
    agentKey: () => undefined,
  };
  const logger = createLogger({ level: "silent" });
  const make = () => new Inbox(host, transport, journal, logger, clock);
  const inbox = make();
  inbox.load();
  return { inbox, make, journal, sent, waits, controls };
}

/** A control action "poke" about `agent` (or every agent), whose handler records each run and may be held. */
function poke(log: string[], gates: Map<string, Promise<void>> = new Map()): ControlDeclaration {
  return {
    action: "poke",
    fields: { agent: z.string().optional(), tag: z.string() },
    key: (c) => (c.agent as string | undefined) ?? "*",
    async handle({ control }) {
      log.push(`start ${control.tag}`);
      await gates.get(control.tag as string);
      log.push(`end ${control.tag}`);
      return { ok: true, action: "poke", message: `poked ${control.tag}`, agents: [] };
    },
  };
}

const msg = (id: number, control: Record<string, unknown>): RelayMessage => ({ id, kind: "control", createdAt: NOW, payload: { orchestratorControl: control } });

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("the inbox", () => {
  it("has a message's effect once: a redelivery, in this process or the next, is answered and acked again without running", async () => {
    const { inbox, make, controls, sent } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    inbox.take([msg(1, { action: "poke", agent: "a", tag: "one" })]);
    await inbox.idle();
    inbox.take([msg(1, { action: "poke", agent: "a", tag: "one" })]); // the ack was lost: delivered again
    await inbox.idle();
    const next = make(); // a restarted daemon, same journal
    next.load();
    next.take([msg(1, { action: "poke", agent: "a", tag: "one" })]);
    await next.idle();
    expect(log).toEqual(["start one", "end one"]);
    // Each delivery gets the first handling's answer (the relay keeps the first).
    expect(sent.answers.map(([id, r]) => [id, r.ok && r.message])).toEqual([[1, "poked one"], [1, "poked one"], [1, "poked one"]]);
    expect(sent.acks).toEqual([1, 1, 1]);
  });

  it("runs controls about one agent in the order they came, others beside them, and one for every agent after all earlier ones", async () => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    const first = gate();
    controls.declare("test", poke(log, new Map([["a1", first.promise]])));
    inbox.take([
      msg(1, { action: "poke", agent: "a", tag: "a1" }),
      msg(2, { action: "poke", agent: "a", tag: "a2" }),
      msg(3, { action: "poke", agent: "b", tag: "b1" }),
      msg(4, { action: "poke", tag: "all" }),
      msg(5, { action: "poke", agent: "b", tag: "b2" }),
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // a1 is held: a2 waits for it; b1 runs beside it; "all" and everything after it wait.
    expect(log).toEqual(["start a1", "start b1", "end b1"]);
    first.open();
    await inbox.idle();
    expect(log).toEqual(["start a1", "start b1", "end b1", "end a1", "start a2", "end a2", "start all", "end all", "start b2", "end b2"]);
  });

  it("tries a retryable failure again with backoff on its clock, as a replay, and answers the last attempt", async () => {
    const { inbox, controls, sent, waits } = setup();
    const replays: boolean[] = [];
    controls.declare("test", {
      action: "flaky",
      fields: {},
      key: () => "*",
      async handle({ replay }) {
        replays.push(Boolean(replay));
        if (replays.length < 3) return { ok: false, action: "flaky", code: "failed", error: "busy", retryable: true } as ControlResult;
        return { ok: true, action: "flaky", message: "done", agents: [] };
      },
    });
    inbox.take([msg(7, { action: "flaky" })]);
    await inbox.idle();
    expect(waits).toEqual([500, 1000]);
    expect(replays).toEqual([false, true, true]);
    expect(sent.answers).toEqual([[7, { ok: true, action: "flaky", message: "done", agents: [] }]]);
  });

  it("moves the cursor past a message only once it and every earlier one are done, and polls after the messages it has", async () => {
    const { inbox, controls, journal } = setup();
    const log: string[] = [];
    const held = gate();
    controls.declare("test", poke(log, new Map([["m1", held.promise]])));
    inbox.take([msg(1, { action: "poke", agent: "a", tag: "m1" }), msg(2, { action: "poke", agent: "b", tag: "m2" }), msg(3, { action: "poke", agent: "c", tag: "m3" })]);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toContain("end m3");
    expect(inbox.cursor).toBe(0);
    expect(journal.cursor).toBe(0);
    expect(inbox.pollAfter).toBe(3); // messages being handled are not asked for again
    held.open();
    await inbox.idle();
    expect(inbox.cursor).toBe(3);
    expect(journal.cursor).toBe(3);
  });

  it("answers an action nobody declared with unknown_action, and parses each message once", async () => {
    const { inbox, controls, sent } = setup();
    let parses = 0;
    const parse = controls.parse.bind(controls);
    controls.parse = (raw) => (parses++, parse(raw));
    inbox.take([msg(1, { action: "launch" })]);
    await inbox.idle();
    expect(sent.answers).toEqual([[1, { ok: false, action: "launch", code: "unknown_action", error: 'unknown action "launch"' }]]);
    expect(parses).toBe(1);
  });

  it("starts over when the relay's ids start over (a new epoch): a message id handled before is a new message", async () => {
    const { inbox, controls, journal } = setup();
    const log: string[] = [];
    controls.declare("test", poke(log));
    journal.setEpoch("one");
    inbox.take([msg(1, { action: "poke", tag: "old" }), msg(2, { action: "poke", tag: "old2" })]);
    await inbox.idle();
    expect(inbox.cursor).toBe(2);
    inbox.startOver("two");
    expect(inbox.cursor).toBe(0);
    expect(inbox.pollAfter).toBe(0);
    expect(journal.epoch).toBe("two");
    inbox.take([msg(1, { action: "poke", tag: "new" })]);
    await inbox.idle();
    expect(log).toEqual(["start old", "end old", "start old2", "end old2", "start new", "end new"]);
    expect(inbox.cursor).toBe(1);
  });
});
