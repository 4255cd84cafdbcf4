import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { definePlugin, type ControlResult, type Orchestrator, type RelayMessage, type RelayTransport, type SpawnSpec } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator, testBuiltins } from "../support/orchestrator.js";
import { readyBackend } from "../support/providers.js";
import { waitFor } from "../support/wait.js";
import { z } from "zod";

// The fuzz of hostile.test.ts again, through the daemon's real message path:
// hostile messages (envelope and control) are polled by the relay session,
// taken up by the inbox, journalled, dispatched (transient failures tried
// again), answered and acknowledged. Only the relay is faked, in this process.

const MESSAGES = 2_500;
const TOKEN = "fuzz-relay-token-5b0c9e1d77";
/** Answers the sender can act on; "failed" (an internal or transient failure left unretried) is not among them. */
const ACTIONABLE = ["invalid", "cwd", "provider", "vetoed", "unknown_action", "not_found", "expired"];

let home: TestHome;
let core: Orchestrator;
const started: SpawnSpec[] = [];
const failures: string[] = [];
const relay = fakeRelay();
/** The message ids a `probe` control was handled for, once per handling (its effect). */
const probed: number[] = [];

/** A control whose every handling is recorded: a message handled twice shows. */
const probePlugin = definePlugin({
  name: "probe",
  apply(ctx) {
    ctx.provideControl({
      action: "probe",
      fields: { tag: z.string() },
      key: (control) => `probe-${String(control.tag)}`,
      handle({ messageId }) {
        probed.push(messageId!);
        return { ok: true, action: "probe", message: `probed ${messageId}`, agents: [] };
      },
    });
  },
});

/**
 * A relay in this process: a queue, the answers (every one, in order) and the
 * acks it got. It hands out every unread message on each poll whatever the
 * cursor (a replay), and loses the first ack of every 7th message (it is
 * delivered again).
 */
function fakeRelay() {
  const queue: RelayMessage[] = [];
  const answers = new Map<number, ControlResult[]>();
  const acks = new Map<number, number>();
  const read = new Set<number>();
  const transport: RelayTransport = {
    longPolling: true, // polls again at once while messages come
    async register() {},
    async heartbeat() {},
    async latestMessageId() {
      return queue.at(-1)?.id ?? 0;
    },
    async fetchMessages() {
      const unread = queue.filter((m) => !read.has(m.id)).slice(0, 250);
      if (unread.length === 0) await new Promise((r) => setTimeout(r, 20));
      return structuredClone(unread);
    },
    async ack(id) {
      acks.set(id, (acks.get(id) ?? 0) + 1);
      if (id % 7 !== 0 || acks.get(id)! > 1) read.add(id);
    },
    async answer(id, result) {
      answers.set(id, [...(answers.get(id) ?? []), result]);
    },
    async report() {},
  };
  const plugin = definePlugin({ name: "fake-relay", role: "transport", apply: (ctx) => ctx.provideTransport(transport) });
  return { queue, answers, acks, plugin };
}

beforeAll(async () => {
  home = new TestHome();
  mkdirSync(join(home.root, "outside"));
  symlinkSync(join(home.root, "outside"), join(home.baseDir, "link-out"));
  const builtins = testBuiltins(home, { without: ["tmux", "relay-http"] });
  ({ orchestrator: core } = await createTestOrchestrator(
    home,
    { id: "fuzz", token: TOKEN, providers: ["claude"], logLevel: "silent", startupPollMs: 5, envPolicy: { fromControl: ["TASK_ID"] } },
    // every 37th start fails once, as a tmux server that went away would: the inbox tries it again
    { builtins: [...builtins, readyBackend(started, { failEvery: 37, failures }), relay.plugin, probePlugin] },
  ));
  await core.start();
});
afterAll(async () => {
  await core?.stop();
  home?.remove();
});

describe("fuzz: hostile messages through the relay session, inbox, journal and dispatch", () => {
  it(`answers each of ${MESSAGES} hostile messages (a success or an actionable refusal, the same on a redelivery), has each effect once, leaks nothing, and keeps serving`, async () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const B = home.baseDir;
    const strings = [
      "", "..", "/", "/etc", `${B}/app`, `${B}/link-out`, `${B}/../outside`, "app", "\u0000", "\u202e", "$(id)", "`id`", "a;b",
      "#{session_name}", "x".repeat(300), "claude", "codex", "spawn", "restart", "shutdown", "🙂", "\n", "--", "-p", "\u001b[201~", "a\u200bb",
    ];
    const values = () => pick<unknown>([pick(strings), rand() * 1e9, null, true, [], {}, [pick(strings)], { a: pick(strings) }, undefined]);
    const keys = ["action", "provider", "cwd", "label", "prompt", "approvalMode", "agentId", "env", "replace", "restartPolicy", "__proto__", "constructor"];
    const probes: number[] = [];
    const control = (id: number): unknown => {
      if (rand() < 0.05) return values();
      if (rand() < 0.08) return probes.push(id), { action: "probe", tag: pick(["a", "b", "c"]) };
      const payload: Record<string, unknown> = { action: pick(["spawn", "spawn", "spawn", "restart", "shutdown", pick(strings)]) };
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) payload[pick(keys)] = values();
      if (payload.action === "spawn" && rand() < 0.2) payload.cwd = pick(strings);
      if (payload.action === "spawn" && rand() < 0.4) payload.label = `l${Math.floor(rand() * 40)}`; // agents that later controls name
      if (payload.action !== "spawn" && rand() < 0.5) payload.agentId = `l${Math.floor(rand() * 40)}`;
      return payload;
    };
    // The envelope is hostile too: its kind, its timestamp, where (and whether) the control is.
    const now = Date.now();
    const expectsAnswer = new Map<number, boolean>();
    for (let id = 1; id <= MESSAGES; id++) {
      const message: Record<string, unknown> = { id, body: pick(["", "hi", "\u0000"]) };
      const kind = pick<unknown>(["control", "control", "control", "chat", undefined, 42, "CONTROL"]);
      if (kind !== undefined) message.kind = kind;
      const createdAt = pick<unknown>([now, now, now, now, undefined, "yesterday", -1, 1e300, Math.floor(now / 1000), now - 3_600_000, now + 3_600_000]);
      if (createdAt !== undefined) message.createdAt = createdAt;
      const where = rand();
      let carries = true;
      if (where < 0.8) message.payload = { orchestratorControl: control(id) };
      else if (where < 0.9) message.meta = { orchestratorControl: control(id) }; // 0.x senders
      else if (where < 0.95) message.payload = pick<unknown>(["spawn", null, [{ action: "spawn" }], 7, { orchestratorControl: null }]);
      else carries = false;
      const raw = (message.payload as RelayMessage["payload"])?.orchestratorControl ?? (message.meta as RelayMessage["meta"])?.orchestratorControl;
      expectsAnswer.set(id, (carries && raw !== undefined && raw !== null) || kind === "control");
      relay.queue.push(message as unknown as RelayMessage);
    }

    await waitFor("every message acknowledged, lost acks again", () => relay.acks.size === MESSAGES && [...relay.acks].every(([id, n]) => n === (id % 7 === 0 ? 2 : 1)), 100_000, 100);
    const codes = new Map<string, number>();
    for (let id = 1; id <= MESSAGES; id++) {
      const answers = relay.answers.get(id) ?? [];
      // one answer per delivery that was acknowledged; a message delivered again is answered the same
      expect(answers.length, `answers to message ${id}`).toBe(expectsAnswer.get(id) ? relay.acks.get(id) : 0);
      const [answer] = answers;
      if (!answer) continue;
      for (const again of answers.slice(1)) expect(again, `message ${id} answered again`).toEqual(answer);
      const text = JSON.stringify(answer);
      if (answer.ok) {
        expect(answer, text).toEqual({ ok: true, action: expect.any(String), message: expect.any(String), agents: expect.any(Array) });
      } else {
        expect(ACTIONABLE, `message ${id}: ${text}`).toContain(answer.code);
        expect(Object.keys(answer).sort(), text).toEqual(["action", "code", "error", "ok"]); // no "retryable", nothing else internal
      }
      // nothing internal leaks: no secret, no stack, no runtime error, no path of the daemon's own state
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(home.stateDir);
      expect(text, text).not.toMatch(/\n\s+at |\b(TypeError|RangeError|ReferenceError|SyntaxError)\b|Cannot read prop|SQLITE|undefined is not/);
      const code = answer.ok ? "ok" : answer.code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // the fuzz reached every kind of answer, and transient failures were tried again (none answered "failed")
    for (const code of ["ok", "invalid", "cwd", "unknown_action", "not_found", "expired"]) expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    expect(failures.length).toBeGreaterThan(3);
    expect(started.length).toBeGreaterThan(50);
    // each probe's effect happened once, though every 7th message was delivered twice and polls replay
    expect(probed.length).toBeGreaterThan(20);
    expect(new Set(probed).size).toBe(probed.length);
    expect(probed.filter((id) => !probes.includes(id))).toEqual([]);
    expect(probed.some((id) => id % 7 === 0)).toBe(true);
    // the journal holds every message done and acknowledged, and the cursor is past the last one
    const journal = core.journal!;
    expect(journal.cursor).toBe(MESSAGES);
    expect(journal.entries().filter((e) => e.state !== "done" || !e.acked)).toEqual([]);

    // still serving, on the same path
    relay.queue.push({ id: MESSAGES + 1, kind: "control", createdAt: Date.now(), payload: { orchestratorControl: { action: "spawn", label: "after-fuzz" } } });
    const after = await waitFor("the answer after the fuzz", () => relay.answers.get(MESSAGES + 1)?.[0]);
    expect(after).toMatchObject({ ok: true, message: "spawned ar-claude-after-fuzz" });
  }, 150_000);
});
