import Database from "better-sqlite3";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../core/journal.js";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import type { TestRelay } from "../support/relay.js";
import { useRig } from "../support/rig.js";
import { TestTmux } from "../support/tmux.js";
import { sleep, waitFor } from "../support/wait.js";

// The message journal under faults (issue 11): a relay that lost its data,
// answers the relay did not take, prompts a crash interrupted, a damaged
// journal, a relay whose clock is off, replays that must not act twice, and
// state storage that cannot be written. Real daemon, real tmux, a real relay.

const rig = useRig({ extensions: true });
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
beforeEach(() => ({ home, tmux, relay } = rig));

const daemon = (file: Record<string, unknown> = {}, env: Record<string, string> = {}) => rig.daemon({ file, env });

const startsOf = (label: string) => rig.events().filter((e) => e.event === "start" && e.env?.AGENT_RELAY_LABEL === label).length;
const journalPath = () => join(home.stateDir, "box.journal.db");

// The crash tests on both paths: plain polling, and long-poll (offered as our
// relay does, the daemon's default there).
describe.each([
  ["plain polling", false],
  ["long-poll", true],
])("after a crash (%s)", (_mode, longPoll) => {
  beforeEach(() => {
    relay.options.longPoll = longPoll; // before any daemon registers
  });

  /** The daemon registered and polls the way this block means. */
  const pollsAsMeant = async (d: TestDaemon) =>
    expect(await d.waitForLog(/registered as box/, 15_000)).toMatch(longPoll ? /; long-poll$/ : /; polling every \d+ ms$/);

  describe("a relay that lost its data", () => {
    it("announces a new epoch: the daemon starts over, and every control sent after the wipe runs and is answered", async () => {
      relay.epoch = "epoch-1";
      const first = daemon();
      await rig.registered();
      await pollsAsMeant(first);
      const before = [1, 2, 3].map((i) => relay.sendControl("box", { action: "spawn", label: `old${i}` }));
      await rig.answered(before);
      await first.kill9();
      relay.wipe(); // ids start at 1 again
      relay.epoch = "epoch-2";
      const after = [1, 2, 3, 4, 5].map((i) => relay.sendControl("box", { action: "spawn", label: `new${i}` }));
      const second = daemon();
      await rig.answered(after);
      expect(after.map((id) => relay.results.get(id)?.ok)).toEqual([true, true, true, true, true]);
      expect([1, 2, 3, 4, 5].map((i) => startsOf(`new${i}`))).toEqual([1, 1, 1, 1, 1]);
      expect(second.logs.some((l) => /epoch-2.*lost its data, starting over/.test(l))).toBe(true);
    });
  });

  describe("answers are delivered, not just attempted", () => {
    it("answers and acks the relay refused while it was down are sent again until it takes them, across a daemon restart", async () => {
      const first = daemon();
      await rig.registered();
      await pollsAsMeant(first);
      // The relay dies right after handing out the controls: answers and acks fail.
      relay.faults = [{ match: /^(POST \/api\/messages\/\d+\/result|PATCH \/api\/messages\/\d+)$/, fault: { status: 503 } }];
      const ids = [1, 2, 3].map((i) => relay.sendControl("box", { action: "spawn", label: `a${i}` }));
      await waitFor("the three agents started", () => tmux.sessions().length === 3 && first.logs.filter((l) => /message \d+ \(spawn\): spawned/.test(l)).length === 3);
      await first.kill9();
      const second = daemon();
      await rig.registered();
      await sleep(1_500);
      relay.faults = [];
      await rig.answered(ids);
      await waitFor("every control acknowledged", () => relay.messages.every((m) => m.readBy.size > 0));
      expect(ids.map((id) => relay.results.get(id)?.message)).toEqual(["spawned ar-claude-a1", "spawned ar-claude-a2", "spawned ar-claude-a3"]);
      expect([1, 2, 3].map((i) => startsOf(`a${i}`))).toEqual([1, 1, 1]);
      expect(second.logs.some((l) => /message \d+ \(spawn\)/.test(l) && /spawned/.test(l))).toBe(false); // not run again
    });
  });

  describe("typed prompts survive a crash", () => {
    it("a daemon killed while codex agents start: the restarted one types each prompt once, and the spawns' answers wait for it", async () => {
      const env = { FAKE_CODEX_START_DELAY_MS: "4000" };
      const first = daemon({ env });
      await rig.registered();
      await pollsAsMeant(first);
      const ids = [1, 2, 3].map((i) => relay.sendControl("box", { action: "spawn", provider: "codex", label: `c${i}`, prompt: `task number ${i}` }));
      await waitFor("three codex agents starting", () => rig.events().filter((e) => e.event === "start").length === 3);
      await first.kill9();
      daemon({ env });
      await rig.answered(ids, 20_000);
      // The fake codex writes a prompt's event once it has read the Enter: on a busy machine, a moment after the answer.
      const prompts = () => rig.events().filter((e) => e.event === "prompt").map((e) => String(e.text)).sort();
      await waitFor("the three prompts to reach codex", () => prompts().length >= 3, 20_000).catch(() => undefined);
      expect(prompts()).toEqual(["task number 1", "task number 2", "task number 3"]); // each once
      expect(ids.map((id) => relay.results.get(id)?.ok)).toEqual([true, true, true]);
      expect(ids.map((id) => (relay.results.get(id)?.agents as any[])[0].status)).toEqual(["ready", "ready", "ready"]);
    });
  });
});

describe("a plain relay (no epoch) that lost its data", () => {
  it("is seen by its newest id falling below the daemon's cursor: the daemon starts over, and the controls sent after run once", async () => {
    const d = daemon({ heartbeatIntervalMs: 1_000 });
    await rig.registered();
    const before = [1, 2, 3, 4, 5].map((i) => relay.sendControl("box", { action: "spawn", label: `old${i}` }));
    await rig.answered(before);
    await waitFor("acks", () => relay.messages.every((m) => m.readBy.size > 0));
    // The relay restarts without its storage while the daemon runs: ids start at 1 again, and it forgets the daemon.
    relay.wipe();
    relay.forgetOrchestrators();
    const after = [1, 2].map((i) => relay.sendControl("box", { action: "spawn", label: `new${i}` }));
    await rig.answered(after);
    expect(after.map((id) => relay.results.get(id)?.message)).toEqual(["spawned ar-claude-new1", "spawned ar-claude-new2"]);
    expect([startsOf("new1"), startsOf("new2"), startsOf("old1")]).toEqual([1, 1, 1]);
    expect(d.logs.some((l) => /newest message id \(\d\) is below ours \(5\); it was reset, starting over/.test(l))).toBe(true);
  });
});

describe("a damaged journal is never silent", () => {
  it("is kept aside with an error saying what was lost, and old history is not run again", async () => {
    const first = daemon();
    await rig.registered();
    const spawn = relay.sendControl("box", { action: "spawn", label: "kept" });
    const stop = relay.sendControl("box", { action: "shutdown", agentId: "kept" });
    await rig.answered([spawn, stop]);
    await waitFor("acks", () => relay.messages.every((m) => m.readBy.size > 0));
    await first.terminate();
    writeFileSync(journalPath(), "this is not a database, it was cut off midwa");
    const second = daemon();
    const error = await second.waitForLog(/ERROR .*journal was damaged/);
    expect(error).toMatch(/kept aside as .*box\.journal\.db\.corrupt-\d+/);
    expect(error).toMatch(/lost/);
    expect(readdirSync(home.stateDir).some((f) => /^box\.journal\.db\.corrupt-\d+$/.test(f))).toBe(true);
    const later = relay.sendControl("box", { action: "spawn", label: "after" });
    await rig.answered([later]);
    expect(startsOf("kept")).toBe(1); // the stopped agent is not spawned again
    expect(tmux.sessions()).toEqual(["ar-claude-after"]);
  });
});

describe("time comes from the relay's clock", () => {
  it("a relay 11 minutes behind: fresh controls run, controls old by its clock expire", async () => {
    relay.clockOffsetMs = -11 * 60_000;
    daemon();
    await rig.registered();
    await sleep(500); // a poll measured the relay's clock
    const fresh = relay.sendControl("box", { action: "spawn", label: "fresh" });
    const old = relay.sendControl("box", { action: "spawn", label: "old" }, { createdAt: relay.now() - 3_600_000 });
    await rig.answered([fresh, old]);
    expect(relay.results.get(fresh)).toMatchObject({ ok: true, message: "spawned ar-claude-fresh" });
    expect(relay.results.get(old)).toMatchObject({ ok: false, code: "expired" });
  });
});

describe("replays act once", () => {
  /** Marks messages as begun in the journal of a stopped daemon: it crashed while handling them. */
  function crashedWhileHandling(...ids: number[]): void {
    const journal = new Journal(home.stateDir, "box");
    journal.open();
    for (const id of ids) journal.started(id);
    journal.close();
  }

  it("a replayed spawn with replace: true whose agent started after it was sent does not start it again", async () => {
    const sentAt = Date.now();
    const first = daemon();
    await rig.registered();
    await rig.answered([relay.sendControl("box", { action: "spawn", label: "r" })]);
    await first.terminate();
    // The replace was handled (it started the running agent) and the daemon died before recording it.
    const replace = relay.sendControl("box", { action: "spawn", label: "r", replace: true }, { createdAt: sentAt });
    crashedWhileHandling(replace);
    daemon();
    await rig.answered([replace]);
    expect(relay.results.get(replace)).toMatchObject({ ok: true, message: "spawned ar-claude-r" });
    expect(startsOf("r")).toBe(1);
  });

  it("a replayed shutdown without a target leaves the agents spawned since it was sent", async () => {
    const first = daemon();
    await rig.registered();
    await rig.answered([relay.sendControl("box", { action: "spawn", label: "before" })]);
    await sleep(50);
    const sentAt = Date.now();
    await sleep(50);
    await rig.answered([relay.sendControl("box", { action: "spawn", label: "since" })]);
    await first.terminate();
    const shutdown = relay.sendControl("box", { action: "shutdown" }, { createdAt: sentAt });
    crashedWhileHandling(shutdown);
    daemon();
    await rig.answered([shutdown]);
    expect(relay.results.get(shutdown)).toMatchObject({ ok: true, message: "stopped ar-claude-before" });
    expect(tmux.sessions()).toEqual(["ar-claude-since"]);
  });

  it("a control for one agent sent after a control for every agent waits for it", async () => {
    daemon({ env: { FAKE_CLAUDE_START_DELAY_MS: "2500" } });
    await rig.registered();
    const slow = relay.sendControl("box", { action: "spawn", label: "slow" });
    const all = relay.sendControl("box", { action: "shutdown" });
    const single = relay.sendControl("box", { action: "spawn", provider: "codex", label: "later" });
    await rig.answered([slow, all, single], 20_000);
    expect(relay.answeredAt.get(all)!).toBeLessThanOrEqual(relay.answeredAt.get(single)!);
    expect(relay.results.get(all)).toMatchObject({ ok: true, message: "stopped ar-claude-slow" });
    expect(tmux.sessions()).toEqual(["ar-codex-later"]);
  });
});

describe("bad state storage", () => {
  it("a journal it cannot write (another process holds it locked): controls are answered 'not run', neither run nor acked until it can be written", async () => {
    const d = daemon();
    await rig.registered();
    await rig.answered([relay.sendControl("box", { action: "spawn", label: "first" })]);
    const holder = new Database(journalPath());
    holder.exec("BEGIN IMMEDIATE"); // the write lock: the daemon's writes fail after its busy timeout
    try {
      const blocked = relay.sendControl("box", { action: "spawn", label: "blocked" });
      await rig.answered([blocked], 60_000);
      expect(relay.results.get(blocked)).toMatchObject({ ok: false, code: "journal", error: `not run: the daemon cannot write its journal ${journalPath()}` });
      expect(await d.waitForLog(/ERROR .*cannot write the journal/)).toMatch(/database is locked; controls are answered with an error and not acknowledged until it can be written/);
      await relay.polls(2, 60_000);
      expect(relay.ackCount(blocked)).toBe(0); // the relay keeps it
      expect(startsOf("blocked")).toBe(0);
      holder.exec("COMMIT");
      await waitFor("the ack once the journal takes writes", () => relay.ackCount(blocked) === 1, 60_000);
      await d.waitForLog(/the journal .* takes writes again/);
      expect(startsOf("blocked")).toBe(0); // answered as not run: the sender decides whether to send it again
    } finally {
      holder.close();
    }
    const later = relay.sendControl("box", { action: "spawn", label: "later" });
    await rig.answered([later]);
    expect(relay.results.get(later)).toMatchObject({ ok: true, message: "spawned ar-claude-later" });
    expect(tmux.sessions()).toEqual(["ar-claude-first", "ar-claude-later"]);
  }, 200_000);

  it("a stateDir that cannot be created: the daemon exits at once naming the path, the cause and what to do", async () => {
    writeFileSync(join(home.root, "blocker"), "a file, not a folder");
    mkdirSync(home.stateDir, { recursive: true });
    const d = rig.daemon({ env: { AGENT_RELAY_ORCHESTRATOR_STATE_DIR: join(home.root, "blocker", "state") } });
    const line = await d.waitForLog(/stateDir .* cannot be created/);
    expect(line).toContain(join(home.root, "blocker", "state"));
    expect(line).toMatch(/not a directory \(ENOTDIR\).*writable/);
    expect(await d.terminate()).not.toBe(0);
  });
});
