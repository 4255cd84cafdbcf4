import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ControlRegistry } from "../../core/controls.js";
import { createHooks } from "../../core/hooks.js";
import { Inbox, type Clock } from "../../core/inbox.js";
import { Journal } from "../../core/journal.js";
import { AgentLocks } from "../../core/lock.js";
import { createLogger } from "../../core/logger.js";
import { Secrets } from "../../core/secrets.js";
import type { RelayMessage } from "../../core/types.js";

/** One lock per agent: the orchestrator's changes of an agent and the inbox's controls about it take the same turns. */
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("AgentLocks", () => {
  it("runs tasks for one agent one at a time, in the order they asked, and other agents' alongside", async () => {
    const locks = new AgentLocks();
    const log: string[] = [];
    const first = gate();
    const a1 = locks.run("a", async () => {
      log.push("a1 start");
      await first.promise;
      log.push("a1 end");
    });
    const a2 = locks.run("a", async () => void log.push("a2"));
    await locks.run("b", async () => void log.push("b"));
    expect(log).toEqual(["a1 start", "b"]);
    expect(locks.busy("a")).toBe(true);
    first.open();
    await Promise.all([a1, a2]);
    expect(log).toEqual(["a1 start", "b", "a1 end", "a2"]);
    expect(locks.busy("a")).toBe(false);
  });

  it("lets a task that holds an agent's turn take it again (a control's handler spawning its agent) instead of waiting for itself", async () => {
    const locks = new AgentLocks();
    const log: string[] = [];
    const outer = locks.run("a", async () => {
      log.push("control");
      await locks.run("a", async () => void log.push("spawn"));
      await locks.run("b", () => locks.run("a", async () => void log.push("nested")));
      return "done";
    });
    const after = locks.run("a", async () => void log.push("exit recorded"));
    expect(await outer).toBe("done");
    await after;
    expect(log).toEqual(["control", "spawn", "nested", "exit recorded"]);
  });

  it("makes work a turn left behind wait like any other once the turn has ended", async () => {
    const locks = new AgentLocks();
    const log: string[] = [];
    const trigger = gate();
    let late!: Promise<void>;
    await locks.run("a", async () => {
      // Started in the turn (it carries the turn's context), run after it: a timer, a restart scheduled on exit.
      late = trigger.promise.then(() => locks.run("a", async () => void log.push("left behind")));
    });
    const holder = gate();
    const held = locks.run("a", async () => {
      log.push("holder start");
      await holder.promise;
      log.push("holder end");
    });
    await Promise.resolve();
    trigger.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["holder start"]);
    holder.open();
    await Promise.all([held, late]);
    expect(log).toEqual(["holder start", "holder end", "left behind"]);
  });
});

describe("the inbox on the orchestrator's locks", () => {
  function setup(locks: AgentLocks) {
    const dir = mkdtempSync(join(tmpdir(), "ar-lock-"));
    dirs.push(dir);
    const journal = new Journal(dir, "t");
    journal.open();
    const transport = { clockOffsetMs: 0, answer: async () => {}, ack: async () => {} };
    const clock: Clock = { now: () => Date.now(), sleep: async () => {} };
    const controls = new ControlRegistry();
    const hooks = createHooks();
    const host = {
      maxMessageAgeMs: 60_000,
      parseControl: (m: RelayMessage) => controls.parseMessage(m),
      controlKey: controls.keyOf.bind(controls),
      dispatchParsed: (parsed: Parameters<ControlRegistry["dispatch"]>[2], context: object) => controls.dispatch(hooks, new Secrets(), parsed, context),
      agentKey: (target: string) => (target === "a" ? "ar-x-a" : undefined),
      locks,
    };
    const inbox = new Inbox(host, transport, journal, createLogger({ level: "silent" }), clock);
    inbox.load();
    return { inbox, controls };
  }
  const msg = (id: number, control: Record<string, unknown>): RelayMessage => ({ id, kind: "control", createdAt: Date.now(), payload: { orchestratorControl: control } });

  it("a control takes its agent's turn: its handler changes the agent at once, an exit seen meanwhile waits, and a control for every agent that stops it does not deadlock", async () => {
    const locks = new AgentLocks();
    const { inbox, controls } = setup(locks);
    const log: string[] = [];
    const starting = gate();
    // Like the built-in controls: `start` and `stop` change the agent under its lock (as spawn and stop do).
    controls.declare("test", {
      action: "start",
      fields: { agent: z.string() },
      key: (c) => c.agent as string,
      async handle() {
        await locks.run("ar-x-a", async () => void log.push("started"));
        await starting.promise; // the start-up, waited for in the control's turn
        log.push("ready");
        return { ok: true, action: "start", message: "", agents: [] };
      },
    });
    controls.declare("test", {
      action: "stopAll",
      fields: {},
      key: () => "*",
      async handle() {
        await locks.run("ar-x-a", async () => void log.push("stopped"));
        return { ok: true, action: "stopAll", message: "", agents: [] };
      },
    });
    inbox.take([msg(1, { action: "start", agent: "a" }), msg(2, { action: "stopAll" }), msg(3, { action: "start", agent: "a" })]);
    await new Promise((resolve) => setImmediate(resolve));
    const exit = locks.run("ar-x-a", async () => void log.push("exit recorded"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["started"]);
    starting.open();
    await inbox.idle();
    await exit;
    expect(log).toEqual(["started", "ready", "exit recorded", "stopped", "started", "ready"]);
  });
});
