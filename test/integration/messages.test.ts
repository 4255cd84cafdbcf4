import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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
/** What the agent was typed after its start (the spawn's own prompt, given as an argument, is left out). */
const prompts = () => events().filter((e) => e.event === "prompt" && !String(e.text).startsWith("You are a headless relay agent")).map((e) => String(e.text));

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

describe("respond", () => {
  it("when the agent is not blocked, is refused with its state", async () => {
    await readyAgent();
    const result = await answer(relay.sendControl("box", { action: "respond", agentId: "a", option: "Yes" }));
    expect(result).toMatchObject({ ok: false, action: "respond", code: "not_blocked", error: "ar-claude-a is idle, not blocked on a question: nothing to respond to" });
    expect(events().filter((e) => e.event === "choice")).toEqual([]);
  });
});
