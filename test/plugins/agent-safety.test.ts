import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineProvider, type SpawnSpec } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { shellProvider } from "../support/providers.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// Issue 10 with real tmux and the fake agent CLIs: what reaches an agent is
// data, what an agent prints cannot leak a secret, and nothing in the state
// dir can be turned against the daemon.

let home: TestHome;
let tmux: TestTmux;
const running: Array<{ stop(o?: { stopAgents?: boolean }): Promise<void> }> = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  tmux.kill();
  home.remove();
});

/** Runs the argv in the prompt, watched: ready when it prints READY. */
const watchedShell = defineProvider({ name: "wshell", command: (spec) => ({ command: JSON.parse(spec.prompt!) as string[] }), ready: { all: ["^READY$"] } });

async function start(extra: Record<string, unknown> = {}) {
  const harness = await createTestOrchestrator(home, {
    providers: ["claude", "shell", "wshell"],
    env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript },
    tmux: { socketName: tmux.socketName },
    plugins: [shellProvider, watchedShell],
    disablePlugins: ["relay-http"],
    ...extra,
  });
  running.push(harness.orchestrator);
  await harness.orchestrator.start();
  return harness;
}

function transcript(): Array<Record<string, unknown>> {
  if (!existsSync(home.transcript)) return [];
  return readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const prompts = () => transcript().filter((e) => e.event === "prompt").map((e) => e.text);

describe("prompts are data, never options or keys", () => {
  it("gives claude a prompt that looks like an option as its prompt text", async () => {
    const { orchestrator } = await start({ claude: { skipPermissions: false } });
    await orchestrator.spawn({ label: "optlike", cwd: home.project, prompt: "--add-dir=/" });
    // the fake submits its argument prompt as it shows its ready screen: wait for that, not for a prompt that may never come
    await waitFor("claude's ready screen", () => transcript().some((e) => e.event === "ready"));
    expect(prompts()).toEqual(["--add-dir=/"]);
    const startEvent = transcript().find((e) => e.event === "start")!;
    expect(startEvent.options).not.toContain("--add-dir");
    expect(startEvent.options).not.toContain("--dangerously-skip-permissions");
  });

  it("types a prompt without its Enter, Ctrl-C or paste-ending escape: one submission of the plain text", async () => {
    const { orchestrator } = await start({ claude: { promptDelivery: "type" } });
    await orchestrator.spawn({ label: "typed", cwd: home.project, prompt: "first\rsecond\u0003 third\u001b[201~ end\u0085" });
    await waitFor("claude to take the prompt", () => prompts().length > 0);
    expect(prompts()).toEqual(["firstsecond third[201~ end"]);
  });

  it("pastes a multi-line prompt whole, its newlines inert", async () => {
    const { orchestrator } = await start({ claude: { promptDelivery: "type" } });
    await orchestrator.spawn({ label: "lines", cwd: home.project, prompt: "line one\nline two\r\nline three" });
    await waitFor("claude to take the prompt", () => prompts().length > 0);
    expect(prompts()).toEqual(["line one\nline two\nline three"]);
  });
});

describe("secrets never leave in answers or reports", () => {
  it("redacts secret env values an agent prints from the control's answer, the report and the log", async () => {
    const { orchestrator, logs } = await start({ env: { IS_SANDBOX: "1", DEPLOY_API_KEY: "sk-config-secret-0042" }, envPolicy: { fromControl: ["TASK_TOKEN"] } });
    const argv = ["/bin/sh", "-c", 'echo "key=$DEPLOY_API_KEY task=$TASK_TOKEN"; exit 3'];
    const result = await orchestrator.dispatch({ action: "spawn", provider: "wshell", label: "leaky", prompt: JSON.stringify(argv), env: { TASK_TOKEN: "tt-from-control-7777" } });
    expect(result.ok).toBe(false);
    const answer = JSON.stringify(result);
    expect(answer).toContain("key=*** task=***");
    const report = JSON.stringify(orchestrator.report());
    expect(report).toContain("key=*** task=***");
    for (const text of [answer, report, logs.join("\n")]) {
      expect(text).not.toContain("sk-config-secret-0042");
      expect(text).not.toContain("tt-from-control-7777");
    }
  });

  it("keeps the relay token and secret values out of the tmux server's environment", async () => {
    const saved = { ...process.env };
    process.env.AGENT_RELAY_TOKEN = "tok-daemon-env-31337abc";
    process.env.SOME_SERVICE_PASSWORD = "pw-daemon-env-424242";
    try {
      const { orchestrator } = await start({ token: "tok-daemon-env-31337abc" });
      await orchestrator.spawn({ provider: "shell", label: "env", prompt: JSON.stringify(["sleep", "30"]) });
      const global = tmux.run("show-environment", "-g");
      expect(global).toContain("PATH="); // it is the server's environment we read
      expect(global).not.toContain("tok-daemon-env-31337abc");
      expect(global).not.toContain("pw-daemon-env-424242");
      const serverPid = tmux.run("display-message", "-p", "#{pid}").trim();
      const environ = readFileSync(`/proc/${serverPid}/environ`, "utf8");
      expect(environ).not.toContain("tok-daemon-env-31337abc");
      expect(environ).not.toContain("pw-daemon-env-424242");
    } finally {
      process.env = saved;
    }
  });
});

describe("the agent's working directory and the state dir", () => {
  it("refuses to start an agent whose folder was swapped for a symlink out of baseDir after the check", async () => {
    const { orchestrator } = await start();
    const outside = join(home.root, "outside");
    mkdirSync(outside);
    symlinkSync(outside, join(home.baseDir, "swapped"));
    const marker = join(outside, "ran-here");
    // the spec as resolveCwd made it a moment earlier, when "swapped" was still a real folder inside baseDir
    const spec: SpawnSpec = {
      provider: "shell", label: "race", cwd: join(home.baseDir, "swapped"), realCwd: join(home.baseDir, "swapped"), approvalMode: "guarded",
      sessionName: "ar-shell-race", command: ["/bin/sh", "-c", `touch ${marker}`], env: { PATH: "/usr/bin:/bin" }, requestedEnv: {}, secretEnv: [], meta: {}, control: {},
    };
    await orchestrator.backend.start(spec, { v: 1, orchestratorId: "test", provider: "shell", label: "race", cwd: spec.cwd, approvalMode: "guarded", startedAt: Date.now() });
    const screen = await waitFor("the session to end", async () => {
      const s = (await orchestrator.backend.screens(["ar-shell-race"])).get("ar-shell-race");
      return s?.dead ? s : undefined;
    });
    expect(screen.exitCode).toBe(125);
    expect((await orchestrator.backend.capture("ar-shell-race", 5)).join("\n")).toContain(`refusing to start: the working directory ${outside} is not inside`);
    expect(existsSync(marker)).toBe(false);
  });

  it("writes an agent's exit notice without following a symlink planted in its place", async () => {
    const { orchestrator } = await start();
    const victim = join(home.root, "victim.txt");
    writeFileSync(victim, "precious\n");
    const notice = join(home.stateDir, "exits", "ar-shell-plant");
    // the agent exits only once the symlink is in place (or after 30 s), whatever the machine's load
    const waitForPlant = 'i=0; while [ ! -L "$0" ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done';
    await orchestrator.spawn({ provider: "shell", label: "plant", prompt: JSON.stringify(["/bin/sh", "-c", waitForPlant, notice]) });
    expect(statSync(notice).isFile()).toBe(true); // created by the daemon before the agent ran
    rmSync(notice);
    symlinkSync(victim, notice);
    await waitFor("the exit to be seen", () => orchestrator.agents().find((a) => a.label === "plant" && a.status === "exited"));
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
  });

  it("tightens a state dir that others can write, with a warning", async () => {
    mkdirSync(home.stateDir, { recursive: true });
    chmodSync(home.stateDir, 0o777);
    const { logs } = await start();
    expect(statSync(home.stateDir).mode & 0o777).toBe(0o700);
    expect(logs.join("\n")).toMatch(/stateDir .* was open to others \(mode 777\); made it owner-only/);
  });

  it("refuses a state dir that belongs to another user", async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // only root can give a folder away
    mkdirSync(home.stateDir, { recursive: true });
    chownSync(home.stateDir, 65534, 65534);
    await expect(start()).rejects.toThrow(/stateDir .* belongs to uid 65534, not to this user \(uid 0\): refusing/);
  });
});

