import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { CLI, TestHome } from "../support/env.js";
import { RelayProcess } from "../support/relay-process.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// `send` and `respond` on the command line, against a real relay process and
// a real daemon with the fake claude: what a user types, and what reaches the agent.

vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let relay: RelayProcess;
let tmux: TestTmux;
let daemon: TestDaemon;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  relay = await new RelayProcess(home, join(home.root, "relay")).start();
  daemon = new TestDaemon(home, tmux, { relayUrl: relay.url, id: "box", token: relay.token, file: { env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript }, heartbeatIntervalMs: 1000 } }).start();
  await daemon.waitForLog(/registered as box /, 20_000);
});
afterEach(async () => {
  await daemon.kill9();
  await relay.kill9();
  tmux.kill();
  home.remove();
});

/** The CLI in a second terminal, with `input` on its stdin. */
function cli(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: home.root, env: home.env({ AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: relay.token }) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const prompts = () =>
  existsSync(home.transcript)
    ? readFileSync(home.transcript, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event: string; text?: string })
        .filter((e) => e.event === "prompt" && !String(e.text).startsWith("You are a headless relay agent"))
        .map((e) => e.text)
    : [];

describe("send and respond on the command line", () => {
  beforeEach(async () => {
    expect(await cli(["spawn", "claude", "--label", "a"])).toMatchObject({ code: 0 });
  });

  it("send waits for delivered; after -- a text is text even when it looks like an option or a number", async () => {
    const dashed = await cli(["send", "a", "--", "--no-wait"]);
    expect(dashed).toMatchObject({ code: 0, stderr: "" });
    expect(dashed.stdout).toMatch(/^box: delivered to ar-claude-a at \d{4}-\d\d-\d\dT\S+Z\n  ar-claude-a  claude  a  ready  /);
    expect(await cli(["send", "a", "--", "0x10"])).toMatchObject({ code: 0 });
    expect(await cli(["send", "a", "007"])).toMatchObject({ code: 0 });
    expect(prompts()).toEqual(["--no-wait", "0x10", "007"]);
  });

  it("send - reads the text from stdin, lines and all", async () => {
    const sent = await cli(["send", "a", "-", "--json"], "from stdin\nline two\n");
    expect(sent).toMatchObject({ code: 0 });
    expect(JSON.parse(sent.stdout)).toMatchObject({ host: "box", ok: true, action: "send", deliveredAt: expect.any(Number) });
    expect(prompts()).toEqual(["from stdin\nline two"]);
  });

  it("--no-wait only sends; a --ttl that is no duration and an unknown agent are refused before anything is sent", async () => {
    const queued = await cli(["send", "a", "queued", "--no-wait"]);
    expect(queued).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sent send to box \(message \d+\)\n$/) });
    await waitFor("the queued message typed", () => prompts().includes("queued"), 20_000);
    expect(await cli(["send", "a", "hi", "--ttl", "soon"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--ttl: expected a duration up to 24h") });
    expect(await cli(["send", "nobody", "hi"])).toMatchObject({ code: 1, stderr: expect.stringContaining('no agent matches "nobody"') });
    expect(await cli(["send", "a", "--", "two", "words"])).toMatchObject({ code: 2, stderr: expect.stringContaining("give the text as one argument") });
    expect(prompts()).toEqual(["queued"]);
  });

  it("respond to an agent that is not blocked fails with its state", async () => {
    const refused = await cli(["respond", "a", "Yes"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("box refused respond [not_blocked]: ar-claude-a is idle, not blocked on a question");
  });
});
