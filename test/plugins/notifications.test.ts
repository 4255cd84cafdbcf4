import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentState, AgentStateDetail, ManagedAgent, Orchestrator, UserConfig } from "../../core/index.js";
import { CLI, TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { shellProvider } from "../support/providers.js";
import { Receiver, type Answer } from "../support/receiver.js";
import { TestTmux } from "../support/tmux.js";
import { sleep, waitFor } from "../support/wait.js";
import { promisify } from "node:util";

let home: TestHome;
let tmux: TestTmux;
let orchestrator: Orchestrator | undefined;
let logs: string[];
const receivers: Receiver[] = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  await orchestrator?.stop();
  orchestrator = undefined;
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  tmux.kill();
  home.remove();
});

async function receiver(answer?: (n: number) => Answer): Promise<Receiver> {
  const r = await Receiver.start(answer);
  receivers.push(r);
  return r;
}

/** A core with the built-ins and the shell provider; `notifications` is the plugin's config section. */
async function start(notifications: Record<string, unknown> | undefined, extra: UserConfig = {}): Promise<Orchestrator> {
  const config: UserConfig = {
    providers: ["shell"],
    tmux: { socketName: tmux.socketName },
    plugins: [shellProvider],
    disablePlugins: ["relay-http"],
    ...(notifications && { notifications: { minBackoffMs: 50, maxBackoffMs: 100, ...notifications } }),
    ...extra,
  };
  ({ orchestrator, logs } = await createTestOrchestrator(home, config));
  await orchestrator.start();
  return orchestrator;
}

const agent: ManagedAgent = {
  agentId: "agent-1",
  provider: "claude",
  label: "reviewer",
  cwd: "/projects/app",
  approvalMode: "default",
  session: "ar-claude-reviewer",
  startedAt: 1,
  status: "ready",
  meta: {},
};
const question: AgentStateDetail = { question: "Do you want to run npm test?", options: ["Yes", "Yes, and don't ask again", "No"], lastLines: ["Bash(npm test)"], source: "screen" };

/** What the state watcher does on a change: calls the hook (the tests await it: it must return at once). */
const change = (from: AgentState, to: AgentState, detail: AgentStateDetail = {}, who: ManagedAgent = agent) =>
  orchestrator!.hooks.onAgentState.promise(who, from, to, detail);
const run = (script: string) => JSON.stringify(["/bin/sh", "-c", script]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const events = (r: Receiver) => r.json().map((n) => n.event as string);

describe("notifications to a webhook", () => {
  it("needs-input (blocked: question, options, the agent's name) and done (idle after working), nothing for other changes", async () => {
    const hook = await receiver();
    await start({ targets: [{ type: "webhook", url: hook.url(), headers: { Authorization: "Bearer hook-secret-123" } }] });
    await change("starting", "idle"); // start-up finished: not "done"
    await change("idle", "working");
    await change("working", "blocked", question);
    await change("blocked", "working");
    await change("working", "idle", { lastLines: ["All 12 tests pass."] });
    await waitFor("two notices", () => hook.requests.length >= 2);
    await sleep(300);
    expect(events(hook)).toEqual(["blocked", "done"]);
    const [blocked, done] = hook.json();
    expect(hook.requests[0]).toMatchObject({ method: "POST", path: "/hook", headers: { "content-type": "application/json", authorization: "Bearer hook-secret-123" } });
    expect(blocked).toMatchObject({
      v: 1,
      event: "blocked",
      state: "blocked",
      host: { id: "test" },
      agent: { id: "agent-1", label: "reviewer", session: "ar-claude-reviewer", provider: "claude", cwd: "/projects/app" },
      question: "Do you want to run npm test?",
      options: ["Yes", "Yes, and don't ask again", "No"],
      lastLines: ["Bash(npm test)"],
      title: "reviewer needs you (test)",
    });
    expect(blocked!.message).toContain("Options: Yes / Yes, and don't ask again / No");
    expect(done).toMatchObject({ event: "done", state: "idle", agent: { label: "reviewer" }, lastLines: ["All 12 tests pass."], title: "reviewer is done (test)" });
    expect(logs.join("")).not.toContain("hook-secret-123"); // header values are secrets
  });

  it("stuck, with why", async () => {
    const hook = await receiver();
    await start({ targets: [{ type: "webhook", url: hook.url() }] });
    await change("working", "stuck", { detail: "no screen change for 10 min", lastLines: ["Thinking…"] });
    await waitFor("the notice", () => hook.requests.length === 1);
    expect(hook.json()[0]).toMatchObject({ event: "stuck", state: "stuck", detail: "no screen change for 10 min", title: "reviewer is stuck (test)" });
  });

  it("a failing webhook (500, then 200) is tried again and the notice delivered once", async () => {
    const hook = await receiver((n) => (n === 0 ? 500 : 200));
    await start({ targets: [{ type: "webhook", url: hook.url() }] });
    await change("working", "blocked", question);
    await waitFor("the second try", () => hook.requests.length >= 2);
    await sleep(800); // several backoffs (≤ 100 ms) long: a notice taken as failed would be tried again
    expect(hook.requests.map((r) => r.status)).toEqual([500, 200]);
    expect(hook.requests[0]!.body).toBe(hook.requests[1]!.body);
  });

  it("gives up after `attempts` tries, with one log line naming the target, not its URL", async () => {
    const hook = await receiver(() => 503);
    await start({ attempts: 3, targets: [{ type: "webhook", name: "team-hook", url: hook.url("/secret-path-42") }] });
    await change("working", "blocked", question);
    await waitFor("the give-up line", () => logs.find((l) => l.includes("gave up")));
    expect(hook.requests).toHaveLength(3);
    expect(logs.find((l) => l.includes("gave up"))).toMatch(/\[notifications\] team-hook: gave up on blocked of ar-claude-reviewer after 3 tries: answered HTTP 503/);
    expect(logs.join("")).not.toContain("secret-path-42");
  });

  it("a hanging webhook delays neither other targets, nor state changes, nor a control, nor the daemon's stop", async () => {
    const hanging = await receiver(() => "hang");
    const hook = await receiver();
    await start({ targets: [{ type: "webhook", url: hanging.url() }, { type: "webhook", url: hook.url() }] });
    await change("working", "blocked", question);
    await waitFor("the hanging webhook to hold the first notice", () => hanging.requests.length === 1);
    await waitFor("the other webhook to get it", () => hook.requests.length === 1);
    // More changes than the hanging target's concurrency (2): each hook call returns while it holds them.
    for (let i = 0; i < 4; i++) {
      await change("working", "blocked", { ...question, question: `Question ${i}?` });
    }
    await waitFor("the other webhook to get them all", () => hook.requests.length === 5);
    const answer = await orchestrator!.dispatch({ action: "spawn", provider: "shell", label: "ctl", prompt: run("sleep 600") });
    expect(answer).toMatchObject({ ok: true, action: "spawn" });
    expect(hanging.requests.every((r) => !r.answered)).toBe(true); // all of it happened while the webhook hung
    expect(hanging.requests).toHaveLength(2); // its own queue waits; it holds no more than its concurrency
    await orchestrator!.stop(); // aborts what hangs
    orchestrator = undefined;
  });

  it("debounces repeats: the same event of the same agent within the window is sent once; another question is news", async () => {
    const hook = await receiver();
    await start({ debounceMs: 60_000, targets: [{ type: "webhook", url: hook.url() }] });
    await change("working", "blocked", question);
    await change("blocked", "working");
    await change("working", "blocked", question);
    await change("working", "idle");
    await change("idle", "working");
    await change("working", "idle");
    await change("working", "blocked", { ...question, question: "Do you want to edit README.md?" });
    await change("working", "blocked", question, { ...agent, session: "ar-claude-other", label: "other" });
    await waitFor("four notices", () => hook.requests.length >= 4);
    await sleep(300);
    // Sorted: a target sends two at a time, so the order of arrival may differ.
    expect(hook.json().map((n) => `${n.agent.label} ${n.event} ${n.question ?? ""}`.trim()).sort()).toEqual([
      "other blocked Do you want to run npm test?",
      "reviewer blocked Do you want to edit README.md?",
      "reviewer blocked Do you want to run npm test?",
      "reviewer done",
    ]);
  });
});

describe("notification targets", () => {
  it("a command (argv, no shell) gets the notice as JSON on stdin", async () => {
    const out = join(home.root, "notice.json");
    const script = "require('fs').writeFileSync(process.argv[1], require('fs').readFileSync(0))";
    await start({ targets: [{ type: "command", command: [process.execPath, "-e", script, out] }] });
    await change("working", "blocked", question);
    const notice = await waitFor("the command's file", () => JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>);
    expect(notice).toMatchObject({ event: "blocked", agent: { label: "reviewer" }, question: "Do you want to run npm test?", options: ["Yes", "Yes, and don't ask again", "No"] });
  });

  it("a command that fails is tried again; one that hangs is killed after its timeout", async () => {
    const count = join(home.root, "count");
    // Fails on its first run, succeeds on its second.
    const flaky = `const fs=require('fs');const n=fs.existsSync(process.argv[1])?1:0;fs.appendFileSync(process.argv[1],'x');process.exit(n?0:1)`;
    const pids = join(home.root, "pids");
    // Does not end within its timeout: writes its pid (sh's, which sleep then takes over) and waits 30 s. A constant script; the file is its argument.
    const hang = ["/bin/sh", "-c", 'echo $$ >> "$1"; exec sleep 30', "sh", pids];
    await start({
      targets: [
        { type: "command", command: [process.execPath, "-e", flaky, count] },
        { type: "command", name: "slow", command: hang, timeoutMs: 1_000 },
      ],
    });
    await change("working", "blocked", question);
    await waitFor("two runs", () => readFileSync(count, "utf8") === "xx");
    await waitFor("the slow command's give-up", () => logs.find((l) => l.includes("slow: gave up")), 20_000);
    expect(logs.find((l) => l.includes("slow: gave up"))).toMatch(/after 5 tries: no answer within 1000 ms/);
    const started = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    expect(started.length).toBeGreaterThan(0); // each try that got as far as writing it (all 5, unless the machine is very busy)
    await waitFor("each hanging run to be killed", () => started.every((pid) => !alive(pid)));
    await sleep(300);
    expect(readFileSync(count, "utf8")).toBe("xx");
  });

  it("an ntfy topic gets the message as text with Title, Tags and Priority", async () => {
    const topic = await receiver();
    await start({ targets: [{ type: "ntfy", url: topic.url("/agents-alerts"), token: "tk_ntfysecret" }] });
    await change("working", "blocked", question);
    await waitFor("the message", () => topic.requests.length === 1);
    const [message] = topic.requests;
    expect(message).toMatchObject({ method: "POST", path: "/agents-alerts", headers: { title: "reviewer needs you (test)", tags: "raising_hand", priority: "4", authorization: "Bearer tk_ntfysecret" } });
    expect(message!.body).toBe("Do you want to run npm test?\nOptions: Yes / Yes, and don't ask again / No\n\nBash(npm test)");
  });

  it("per-target event filters", async () => {
    const onlyBlocked = await receiver();
    const all = await receiver();
    await start({ targets: [{ type: "webhook", url: onlyBlocked.url(), events: ["blocked"] }, { type: "webhook", url: all.url() }] });
    await change("working", "idle");
    await change("working", "stuck", { detail: "no screen change for 10 min" });
    await change("working", "blocked", question);
    await waitFor("three notices", () => all.requests.length === 3);
    await waitFor("the blocked one", () => onlyBlocked.requests.length === 1);
    await sleep(300);
    expect(events(all).sort()).toEqual(["blocked", "done", "stuck"]);
    expect(events(onlyBlocked)).toEqual(["blocked"]);
  });
});

describe("exits", () => {
  it("an agent that exits on its own is notified with its last lines, a secret on its screen redacted; one stopped on purpose is not", async () => {
    const hook = await receiver();
    await start({ targets: [{ type: "webhook", url: hook.url() }] }, { env: { MY_API_KEY: "sk-live-abcdef123456" } });
    const { agent: stopped } = await orchestrator!.spawn({ provider: "shell", label: "stopped", prompt: run("sleep 600") });
    await orchestrator!.stopAgent(stopped);
    await orchestrator!.spawn({ provider: "shell", label: "leaky", prompt: run('echo "using key $MY_API_KEY"; sleep 0.3; exit 3') });
    await waitFor("the exit notice", () => hook.requests.length === 1);
    await sleep(300);
    const [notice] = hook.json();
    expect(notice).toMatchObject({ event: "exited", state: "exited", exitCode: 3, agent: { label: "leaky", provider: "shell" }, title: "leaky exited (test)" });
    expect(notice!.lastLines).toContain("using key ***");
    expect(hook.requests[0]!.body).not.toContain("sk-live-abcdef123456");
    expect(hook.requests).toHaveLength(1); // none for the agent stopped on purpose
  });

  it("an agent restarted many times in a row is crash-looping", async () => {
    const hook = await receiver();
    await start({ debounceMs: 0, crashLoopAfter: 2, targets: [{ type: "webhook", url: hook.url() }] }, { restarts: { minBackoffMs: 50, maxBackoffMs: 100 } });
    await orchestrator!.spawn({ provider: "shell", label: "crashy", prompt: run("sleep 0.2; exit 2"), meta: { restartPolicy: "on-failure" } });
    await waitFor("three exits", () => hook.requests.length >= 3, 20_000);
    await orchestrator!.stopAgent(orchestrator!.findAgents("crashy")[0]!);
    const [first, second, third] = hook.json();
    expect([first, second, third].map((n) => `${n!.event} ${n!.restarts ?? 0}`)).toEqual(["exited 0", "exited 1", "crash-looping 2"]);
    expect(third).toMatchObject({ exitCode: 2, title: "crashy is crash-looping (test)", detail: expect.stringMatching(/^crash-looping: restarted 2 times in a row; exited with status 2/) });
  });
});

describe("notifications config", () => {
  it("off by default: with no config the plugin taps nothing and says nothing", async () => {
    await start(undefined);
    expect(orchestrator!.hooks.onAgentState.taps.map((t) => t.name)).not.toContain("notifications");
    expect(orchestrator!.hooks.onAgentExit.taps.map((t) => t.name)).not.toContain("notifications");
    await change("working", "blocked", question);
    expect(logs.join("")).not.toContain("[notifications]");
  });

  it("overridable per host: targets set for another host send nothing here, for this host they do", async () => {
    const hook = await receiver();
    const other = await receiver();
    await start(undefined, {
      hosts: {
        "some-other-host": { notifications: { targets: [{ type: "webhook", url: other.url() }] } },
        [(await import("node:os")).hostname()]: { notifications: { minBackoffMs: 50, targets: [{ type: "webhook", url: hook.url() }] } },
      },
    });
    await change("working", "blocked", question);
    await waitFor("the notice", () => hook.requests.length === 1);
    await sleep(300);
    expect(other.requests).toHaveLength(0);
  });

  it("a bad target is refused at start, naming the key and what was expected", async () => {
    await expect(start({ targets: [{ type: "command", command: "notify-send hello" }] })).rejects.toThrow(/notifications\.targets\.0\.command: .*expected array/i);
    await expect(start({ targets: [{ type: "webhook", url: "ftp://x" }] })).rejects.toThrow(/notifications\.targets\.0\.url: expected an http\(s\) URL/);
    await expect(start({ targets: [{ type: "webhook", url: "http://127.0.0.1:1/", events: ["finished"] }] })).rejects.toThrow(/notifications\.targets\.0\.events\.0/);
  });

  it("`config` shows the targets but not their tokens", async () => {
    writeFileSync(
      join(home.root, "orchestrator.config.json"),
      JSON.stringify({ notifications: { targets: [{ type: "webhook", url: "https://example.com/h", headers: { Authorization: "Bearer wh-secret-0987" } }, { type: "ntfy", url: "https://ntfy.example/t", token: "tk_ntfy_5566" }] } }),
    );
    for (const args of [["config"], ["config", "--json"]]) {
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: home.root, env: { HOME: home.home, PATH: process.env.PATH } });
      expect(stdout).toContain("https://ntfy.example/t");
      expect(stdout).not.toContain("wh-secret-0987");
      expect(stdout).not.toContain("tk_ntfy_5566");
    }
  });
});
