import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Journal } from "../../core/journal.js";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// `send` and `respond` (issue 15.3, 15.4): a real daemon, real tmux on its
// own socket, a relay on 127.0.0.1, and the fake claude, whose transcript
// says exactly what it was typed and which options it was given.

vi.setConfig({ testTimeout: 90_000 });

let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
const daemons: TestDaemon[] = [];

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  relay = await new TestRelay({ extensions: true }).start();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.terminate("SIGKILL");
  await relay.stop();
  tmux.kill();
  home.remove();
});

function daemon(env: Record<string, string> = {}): TestDaemon {
  const d = new TestDaemon(home, tmux, {
    relayUrl: relay.url,
    file: { env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript, ...env } },
  }).start();
  daemons.push(d);
  return d;
}

const answer = async (id: number, timeoutMs = 30_000) => waitFor(`the answer to ${id}`, () => relay.results.get(id), timeoutMs);
const events = () =>
  existsSync(home.transcript)
    ? readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>)
    : [];
/** What the agent was typed after its start (the spawn's own prompt, given as an argument and submitted first, is left out). */
const prompts = () =>
  events()
    .filter((e) => e.event === "prompt")
    .slice(1)
    .map((e) => String(e.text));

/** The state the daemon last reported for agent `a`, once it is `state`. */
const reportedAs = (state: string, timeoutMs = 20_000) =>
  waitFor(
    `agent a reported ${state}`,
    // Blocked as its screen shows it, with the question (its event alone says blocked before the prompt is drawn).
    () => relay.reported("box").find((r) => r.label === "a" && r.state === state && (state !== "blocked" || r.question !== undefined)),
    timeoutMs,
  );

/** A daemon with one ready claude agent labelled `a` (session ar-claude-a). */
async function readyAgent(env: Record<string, string> = {}, spawn: Record<string, unknown> = {}): Promise<TestDaemon> {
  const d = daemon(env);
  await waitFor("registration", () => relay.orchestrators.get("box"));
  const spawned = await answer(relay.sendControl("box", { action: "spawn", label: "a", ...spawn }));
  expect(spawned).toMatchObject({ ok: true });
  return d;
}

describe("send to an idle agent", () => {
  it("is typed once, and answered delivered with when", async () => {
    await readyAgent();
    const before = Date.now();
    const result = await answer(relay.sendControl("box", { action: "send", agentId: "a", text: "please add a README" }));
    expect(result).toMatchObject({ ok: true, action: "send", message: expect.stringMatching(/^delivered to ar-claude-a at \d{4}-\d\d-\d\dT/) });
    expect(result.deliveredAt).toBeGreaterThanOrEqual(before);
    expect(prompts()).toEqual(["please add a README"]);
    expect(tmux.capture("ar-claude-a").split("\n").filter((l) => l.includes("please add a README"))).toHaveLength(1);
  });

  it("delivered again and again by the relay (acks lost), it is typed once", async () => {
    const d = await readyAgent();
    relay.dropAcks = true;
    relay.replay = true; // every poll returns every message again
    const id = relay.sendControl("box", { action: "send", agentId: "a", text: "only once" });
    expect(await answer(id)).toMatchObject({ ok: true, action: "send" });
    await relay.polls(5);
    await waitFor("the message delivered again after its answer", () => d.logs.some((l) => new RegExp(`message ${id} was handled already`).test(l)));
    expect(prompts()).toEqual(["only once"]);
  });

  it("multi-line text arrives as one message, its newlines not pressing Enter", async () => {
    await readyAgent();
    const text = "first line\nsecond line\n\nfourth line";
    expect(await answer(relay.sendControl("box", { action: "send", agentId: "a", text }))).toMatchObject({ ok: true });
    expect(prompts()).toEqual([text]);
  });

  it("text is typed as data: control characters are dropped, a text like an option is text", async () => {
    await readyAgent();
    const sent = "--dangerously-skip-permissions\r\x03 \x1b[201~done";
    expect(await answer(relay.sendControl("box", { action: "send", agentId: "a", text: sent }))).toMatchObject({ ok: true });
    expect(prompts()).toEqual(["--dangerously-skip-permissions [201~done"]);
  });

  it("is refused for an agent that does not exist, before anything is typed", async () => {
    await readyAgent();
    const result = await answer(relay.sendControl("box", { action: "send", agentId: "nobody", text: "hi" }));
    expect(result).toMatchObject({ ok: false, code: "not_found", error: 'no managed agent matches "nobody"' });
    expect(prompts()).toEqual([]);
  });
});

describe("send after a daemon crash", () => {
  it("a message being handled when the daemon died is typed after its restart, unless its typing had begun", async () => {
    const first = await readyAgent();
    await reportedAs("idle");
    await first.kill9(); // the agent keeps running
    const sentAt = Date.now();
    const waited = relay.sendControl("box", { action: "send", agentId: "a", text: "was waiting" }, { createdAt: sentAt });
    const typing = relay.sendControl("box", { action: "send", agentId: "a", text: "was being typed" }, { createdAt: sentAt });
    // Both were taken up by the dead daemon; it had begun to type the second.
    const journal = new Journal(home.stateDir, "box");
    journal.open();
    journal.started(waited);
    journal.started(typing);
    journal.close();
    const marks = join(home.stateDir, "messages", "box");
    mkdirSync(marks, { recursive: true, mode: 0o700 });
    writeFileSync(join(marks, `${typing}-${sentAt}`), "");
    daemon();
    expect(await answer(waited)).toMatchObject({ ok: true, message: expect.stringMatching(/^delivered to ar-claude-a at /) });
    expect(await answer(typing)).toMatchObject({ ok: false, code: "unconfirmed", error: expect.stringContaining("not typed again") });
    expect(prompts()).toEqual(["was waiting"]);
  });
});

describe("send to a busy agent", () => {
  it("while it works, waits and is typed once it is idle", async () => {
    await readyAgent({}, { prompt: "work:3000 a long task" });
    await reportedAs("working");
    const result = await answer(relay.sendControl("box", { action: "send", agentId: "a", text: "and then this" }));
    expect(result).toMatchObject({ ok: true, message: expect.stringMatching(/^delivered to ar-claude-a at /) });
    // Typed while it worked, the fake would have taken it at once (and queued it): its prompt would come before the answer.
    const order = events()
      .filter((e) => e.event === "answer" || (e.event === "prompt" && e.text === "and then this"))
      .map((e) => e.event);
    expect(order.slice(0, 2)).toEqual(["answer", "prompt"]);
    expect(prompts()).toEqual(["and then this"]);
  });

  it("while it is blocked on a permission prompt, is never typed, and expires with its TTL", async () => {
    await readyAgent({}, { prompt: "tool: touch x", approvalMode: "default" });
    await reportedAs("blocked");
    const result = await answer(relay.sendControl("box", { action: "send", agentId: "a", text: "hello", ttlMs: 3_000 }));
    expect(result).toMatchObject({ ok: false, action: "send", code: "expired" });
    expect(result.error).toBe('not delivered: ar-claude-a was blocked on "Do you want to proceed?" (Yes / Yes, and always allow access to projects/ from this project / No) until the message\'s TTL (3 s) passed; nothing was typed');
    // Text and Enter typed into the prompt would have chosen "Yes" and run the tool.
    expect(events().filter((e) => e.event === "permission-answer")).toEqual([]);
    expect(prompts()).toEqual([]);
    expect(tmux.screen("ar-claude-a")).toContain("Do you want to proceed?");
    expect(tmux.screen("ar-claude-a")).not.toContain("hello");
  });
});

describe("respond", () => {
  it.each([
    ["No", 3, "idle"],
    ["yes", 1, "working"],
  ])("chooses %s on a permission prompt by its label (key %i), and the agent goes on", async (option, key, next) => {
    await readyAgent({}, { prompt: "tool: touch x", approvalMode: "default" });
    await reportedAs("blocked");
    const result = await answer(relay.sendControl("box", { action: "respond", agentId: "a", option }));
    const label = option === "No" ? "No" : "Yes";
    expect(result).toMatchObject({ ok: true, action: "respond", message: expect.stringMatching(new RegExp(`^answered "Do you want to proceed\\?" of ar-claude-a with "${label}" \\(key ${key}\\); it is now `)) });
    // Answered once the prompt went away, not when the key was pressed.
    expect(result.message).toMatch(/; it is now (idle|working)$/);
    expect(events().filter((e) => e.event === "permission-answer")).toEqual([expect.objectContaining({ choice: key })]);
    await reportedAs(next);
    await reportedAs("idle");
    expect(tmux.screen("ar-claude-a")).not.toContain("Do you want to proceed?");
  });

  it("refuses an option the question does not have, with the question and its options", async () => {
    await readyAgent({}, { prompt: "tool: touch x", approvalMode: "default" });
    await reportedAs("blocked");
    for (const option of ["maybe", "Y"]) {
      const result = await answer(relay.sendControl("box", { action: "respond", agentId: "a", option }));
      expect(result).toMatchObject({
        ok: false,
        code: "no_option",
        error: `"${option}" is not one option of ar-claude-a's question: blocked on "Do you want to proceed?" (Yes / Yes, and always allow access to projects/ from this project / No)`,
      });
    }
    expect(events().filter((e) => e.event === "permission-answer")).toEqual([]);
  });

  it("when the agent is not blocked, is refused with its state", async () => {
    await readyAgent();
    await reportedAs("idle");
    const result = await answer(relay.sendControl("box", { action: "respond", agentId: "a", option: "Yes" }));
    expect(result).toMatchObject({ ok: false, action: "respond", code: "not_blocked", error: "ar-claude-a is idle, not blocked on a question: nothing to respond to" });
    expect(events().filter((e) => e.event === "choice")).toEqual([]);
  });
});
