import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// Issue #14.6: claude's first run works or says how. Root is simulated by the fake claude
// (FAKE_CLAUDE_ROOT), so these tests do not depend on the uid they run as.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
let up: TestUp | undefined;

afterEach(async () => {
  await up?.stop();
  up = undefined;
  tmux.kill();
  home.remove();
});

/** `up` with a JSON config (the agents' env among it), in a fresh HOME. */
async function startUp(config: Record<string, unknown>): Promise<TestUp> {
  home = new TestHome();
  tmux = new TestTmux();
  const file = `${home.root}/orchestrator.config.json`;
  const { env, ...rest } = config as { env?: Record<string, string> };
  writeFileSync(file, JSON.stringify({ env: { FAKE_CLAUDE_TRANSCRIPT: home.transcript, ...env }, ...rest }));
  up = await new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: file }).start();
  return up;
}

/** The options each fake claude started with, in order. */
function startOptions(): string[][] {
  if (!existsSync(home.transcript)) return [];
  return readFileSync(home.transcript, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { event: string; args: string[] })
    .filter((e) => e.event === "start")
    .map((e) => e.args.slice(0, e.args.indexOf("--")));
}

describe("claude's approval modes, from spawn --approval-mode", () => {
  it("maps claude's own modes to --permission-mode, bypasses only for the bypass modes (the default), refuses unknown ones", async () => {
    const u = await startUp({ env: { IS_SANDBOX: "1" } });
    for (const [label, mode] of [["dflt", undefined], ["plan", "plan"], ["edits", "acceptEdits"], ["ask", "default"], ["bypass", "bypassPermissions"]] as const) {
      const spawned = await u.cli(["spawn", "claude", "--label", label, "--wait", ...(mode ? ["--approval-mode", mode] : [])]);
      expect(spawned, label).toMatchObject({ code: 0, stderr: "" });
    }
    const [dflt, plan, edits, ask, bypass] = startOptions();
    expect(dflt).toContain("--dangerously-skip-permissions");
    expect(bypass).toContain("--dangerously-skip-permissions");
    for (const [options, mode] of [[plan, "plan"], [edits, "acceptEdits"], [ask, "default"]] as const) {
      expect(options).not.toContain("--dangerously-skip-permissions");
      expect(options!.join(" ")).toContain(`--permission-mode ${mode}`);
    }

    const unknown = await u.cli(["spawn", "claude", "--label", "yolo", "--approval-mode", "yolo", "--wait"]);
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'error: box refused spawn [invalid]: approval mode "yolo" is not known to claude (known: guarded, full, bypassPermissions, default, acceptEdits, plan, read-only)\n',
    });
    expect(tmux.sessions()).not.toContain("ar-claude-yolo");
  });

  it("as root without IS_SANDBOX: the spawn's answer says the fix; a non-bypass mode starts", async () => {
    const u = await startUp({ env: { FAKE_CLAUDE_ROOT: "1" } });
    const refused = await u.cli(["spawn", "claude", "--label", "rooted", "--wait"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "error: box refused spawn [exited]: ar-claude-rooted exited with status 1 during start-up: --dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons; " +
        'fix: set IS_SANDBOX=1 in the env policy (config env: { IS_SANDBOX: "1" }) if this host is a sandbox, or use a non-bypass --approval-mode (default, acceptEdits, plan)\n',
    );
    const ps = (await u.cli(["ps"])).stdout;
    expect(ps).toMatch(/ar-claude-rooted\s+claude\s+rooted\s+exited\(1\)/);
    expect(ps).toContain("fix: set IS_SANDBOX=1");

    const started = await u.cli(["spawn", "claude", "--label", "careful", "--approval-mode", "default", "--wait"]);
    expect(started).toMatchObject({ code: 0, stderr: "" });
    expect(started.stdout).toMatch(/ar-claude-careful\s+claude\s+careful\s+ready/);
  });

  it("a host with claude.skipPermissions false runs the default mode without bypass and refuses the bypass modes", async () => {
    const u = await startUp({ env: { FAKE_CLAUDE_ROOT: "1" }, claude: { skipPermissions: false } });
    expect(await u.cli(["spawn", "claude", "--label", "plain", "--wait"])).toMatchObject({ code: 0 });
    expect(startOptions()[0]!.join(" ")).toContain("--permission-mode default");
    expect(await u.cli(["spawn", "claude", "--label", "full", "--approval-mode", "bypassPermissions", "--wait"])).toMatchObject({
      code: 1,
      stderr: 'error: box refused spawn [invalid]: approval mode "bypassPermissions" bypasses permissions, which this host does not allow (claude.skipPermissions is false)\n',
    });
  });
});

describe("up runs the doctor's checks at start", () => {
  it("warns about each check that would fail, and still starts", async () => {
    const u = await startUp({ env: { IS_SANDBOX: "1" }, claude: { bin: "claude-not-installed" } });
    await waitFor("the doctor's warning", () => u.logs.find((l) => l.includes("doctor:")));
    await new Promise((r) => setTimeout(r, 1_000)); // any other warning would come with it
    expect(u.logs).toContainEqual(expect.stringMatching(/WARN doctor: provider claude: "claude-not-installed" is not installed or not in PATH$/));
    expect(u.logs.filter((l) => l.includes("doctor:"))).toHaveLength(1); // the passing checks stay quiet
    expect((await u.cli(["ps"])).stdout).toMatch(/^box\s+online/m);
  });
});
