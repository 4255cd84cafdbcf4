import { afterEach, describe, expect, it } from "vitest";
import type { SpawnSpec, UserConfig } from "../../core/index.js";
import { existsSync } from "node:fs";
import { EVENT_HOOK_SCRIPT, eventFilePath } from "../../core/index.js";
import { claudePlugin, DEFAULT_CLAUDE_PROMPT } from "../../plugins/claude/index.js";
import { codexPlugin } from "../../plugins/codex/index.js";
import { envPolicyPlugin } from "../../plugins/env-policy/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { recordingBackend } from "../support/providers.js";

const homes: TestHome[] = [];
afterEach(() => homes.splice(0).forEach((h) => h.remove()));

/** Spawns through a real core with the launchers and env policy, and returns the spec the backend got. */
async function specFor(config: UserConfig, request: Parameters<import("../../core/index.js").OrchestratorApi["spawn"]>[0], env: Record<string, string> = {}, raw = false): Promise<SpawnSpec & { stateDir?: string }> {
  const home = new TestHome();
  homes.push(home);
  const started: SpawnSpec[] = [];
  const { orchestrator } = await createTestOrchestrator(home, config, {
    builtins: [envPolicyPlugin({ source: home.env(env) }), recordingBackend(started), claudePlugin(), codexPlugin()],
  });
  // the recording backend runs nothing: the start ends as "exited"; the spec is what counts here
  await orchestrator.spawn(request).catch((err: Error) => {
    if (!/exited/.test(err.message)) throw err;
  });
  return raw ? { ...started[0]!, stateDir: orchestrator.config.stateDir } : withoutHooks(started[0]!);
}

/** The spec with claude's event hooks taken out of its --settings (tested on their own below), and the --settings left out when nothing else is in it. */
function withoutHooks(spec: SpawnSpec): SpawnSpec {
  const at = spec.command.indexOf("--settings");
  if (at === -1) return spec;
  const { hooks: _hooks, ...rest } = JSON.parse(spec.command[at + 1]!) as Record<string, unknown>;
  const command = [...spec.command];
  if (Object.keys(rest).length === 0) command.splice(at, 2);
  else command[at + 1] = JSON.stringify(rest);
  return { ...spec, command };
}

const SKIP_WARNING = ["--settings", '{"skipDangerousModePermissionPrompt":true}'];

describe("claude launcher", () => {
  it("builds 0.9.0's command line with the prompt after \"--\", the bypass warning suppressed by --settings", async () => {
    const BYPASS = "--dangerously-skip-permissions";
    expect((await specFor({}, { label: "a", prompt: "do it" })).command).toEqual(["claude", ...SKIP_WARNING, BYPASS, "--", "do it"]);
    expect((await specFor({}, { label: "b" })).command).toEqual(["claude", ...SKIP_WARNING, BYPASS, "--", DEFAULT_CLAUDE_PROMPT]);
    expect((await specFor({ claude: { suppressDialogs: false } }, { label: "c", prompt: "p" })).command).toEqual(["claude", BYPASS, "--", "p"]);
    expect((await specFor({ claude: { promptDelivery: "type" } }, { label: "d", prompt: "p" })).command).toEqual(["claude", ...SKIP_WARNING, BYPASS]);
  });

  it("passes claude hooks in --settings that run the event script on the agent's event file, with only quoted constant paths", async () => {
    const spec = await specFor({}, { label: "hooked", prompt: "$(touch /tmp/x) '; rm -rf ~" }, {}, true);
    const settings = JSON.parse(spec.command[spec.command.indexOf("--settings") + 1]!) as { skipDangerousModePermissionPrompt?: boolean; hooks: Record<string, Array<{ hooks: Array<{ command: string }> }>> };
    expect(settings.skipDangerousModePermissionPrompt).toBe(true);
    expect(Object.keys(settings.hooks).sort()).toEqual(["Notification", "PermissionRequest", "PostToolUse", "PreToolUse", "SessionEnd", "Stop", "UserPromptSubmit"]);
    const file = eventFilePath(spec.stateDir!, "ar-claude-hooked");
    const expected = [process.execPath, EVENT_HOOK_SCRIPT, file].map((p) => `'${p}'`).join(" ");
    for (const entries of Object.values(settings.hooks)) expect(entries[0]!.hooks[0]!.command).toBe(expected);
    expect(existsSync(EVENT_HOOK_SCRIPT)).toBe(true);
    const off = await specFor({ claude: { events: false } }, { label: "quiet", prompt: "p" }, {}, true);
    expect(off.command.join(" ")).not.toContain("hooks");
  });

  it("passes a prompt that looks like an option as data, after \"--\"", async () => {
    for (const prompt of ["--dangerously-skip-permissions", "--mcp-config=/tmp/evil.json", "--settings={}", "--add-dir=/", "-p"]) {
      const { command } = await specFor({ claude: { skipPermissions: false } }, { label: `opt-${prompt.length}`, prompt });
      expect(command.slice(-2)).toEqual(["--", prompt]);
      expect(command.slice(0, -1)).not.toContain(prompt);
    }
  });

  it("maps approval modes to --permission-mode; bypass only for the bypass modes; an unknown mode is refused with the known ones", async () => {
    expect((await specFor({}, { label: "p", prompt: "p", approvalMode: "plan" })).command).toEqual(["claude", "--permission-mode", "plan", "--", "p"]);
    expect((await specFor({}, { label: "e", prompt: "p", approvalMode: "acceptEdits" })).command).toEqual(["claude", "--permission-mode", "acceptEdits", "--", "p"]);
    expect((await specFor({}, { label: "f", prompt: "p", approvalMode: "full" })).command).toContain("--dangerously-skip-permissions");
    expect((await specFor({ claude: { skipPermissions: false } }, { label: "g", prompt: "p" })).command).toEqual(["claude", "--permission-mode", "default", "--", "p"]);
    await expect(specFor({}, { label: "x", approvalMode: "chaos" })).rejects.toThrow('approval mode "chaos" is not known to claude (known: guarded, full, bypassPermissions, default, acceptEdits, plan, read-only)');
  });

  it("takes its binary and extra arguments from the config's claude section", async () => {
    const spec = await specFor({ claude: { bin: "/opt/claude", args: ["--model", "opus"] } }, { label: "a", prompt: "p" });
    expect(spec.command).toEqual(["/opt/claude", "--model", "opus", ...SKIP_WARNING, "--dangerously-skip-permissions", "--", "p"]);
  });

  it("rejects a wrong option with the key and what was expected", async () => {
    await expect(specFor({ claude: { bin: 42 } }, { label: "a" })).rejects.toThrow(/inline config: claude\.bin: Invalid input: expected string, received number/);
  });
});

describe("codex launcher", () => {
  it("runs the current CLI: --no-daemon, the project pre-trusted, approval flags by mode, never --full-auto", async () => {
    const spec = await specFor({}, { provider: "codex", label: "c" }, {}, true);
    const notify = `notify=${JSON.stringify([process.execPath, EVENT_HOOK_SCRIPT, eventFilePath(spec.stateDir!, "ar-codex-c")])}`;
    expect(spec.command).toEqual(["codex", "--no-daemon", "-c", `projects={${JSON.stringify(spec.realCwd)}={trust_level="trusted"}}`, "-c", notify, "-a", "on-request", "-s", "workspace-write"]);
    expect((await specFor({ codex: { events: false } }, { provider: "codex", label: "q" })).command.join(" ")).not.toContain("notify");
    expect(spec.env.AGENT_RELAY_CODEX_HEADLESS).toBe("1");
    expect((await specFor({}, { provider: "codex", label: "f", approvalMode: "full" })).command).toContain("--dangerously-bypass-approvals-and-sandbox");
    await expect(specFor({}, { provider: "codex", label: "x", approvalMode: "chaos" })).rejects.toThrow('approval mode "chaos" has no codex arguments (known: guarded, read-only, full)');
  });

  it("keeps 0.9.0's codex-relay launcher by config, with the relay URL and the headless flag in the env", async () => {
    const spec = await specFor({ relayUrl: "http://127.0.0.1:7777", codex: { launcher: "codex-relay", args: ["--verbose"] } }, { provider: "codex", label: "c" });
    expect(spec.command).toEqual(["codex-relay", "--headless", "--relay-url", "http://127.0.0.1:7777", "--verbose"]);
    expect(spec.env.AGENT_RELAY_CODEX_HEADLESS).toBe("1");
  });
});

describe("env policy", () => {
  it("takes 0.9.0's allow-list from the daemon env, then the config env, then the relay variables", async () => {
    const spec = await specFor(
      { token: "tok-123456", hostname: "host-a", env: { TEAM: "core", ANTHROPIC_MODEL: "from-config" } },
      { label: "Lbl", approvalMode: "full" },
      { ANTHROPIC_MODEL: "from-daemon", CLAUDE_CODE_X: "1", GITHUB_TOKEN: "gh", RANDOM_VAR: "no", NODE_OPTIONS: "--require evil", AGENT_RELAY_ORCHESTRATOR_ID: "x" },
    );
    expect(spec.env).toMatchObject({
      ANTHROPIC_MODEL: "from-config",
      CLAUDE_CODE_X: "1",
      GITHUB_TOKEN: "gh",
      TEAM: "core",
      AGENT_RELAY_TOKEN: "tok-123456",
      AGENT_RELAY_LABEL: "Lbl",
      AGENT_RELAY_APPROVAL: "full",
      AGENT_RELAY_TAGS: "headless,dashboard-spawned,host-a",
    });
    for (const name of ["RANDOM_VAR", "NODE_OPTIONS", "AGENT_RELAY_ORCHESTRATOR_ID", "FAKE_CLAUDE_TRANSCRIPT"]) expect(spec.env).not.toHaveProperty(name);
    expect(spec.secretEnv).toEqual(expect.arrayContaining(["AGENT_RELAY_TOKEN", "GITHUB_TOKEN"]));
  });

  it("uses configured allow and deny patterns; deny wins", async () => {
    const spec = await specFor(
      { envPolicy: { allow: ["HOME", "AWS_*", "LD_*"], deny: ["AWS_SECRET_*"], pathPrepend: [] } },
      { label: "a" },
      { AWS_REGION: "eu", AWS_SECRET_ACCESS_KEY: "s", LD_PRELOAD: "/x.so", GITHUB_TOKEN: "gh" },
    );
    expect(spec.env.AWS_REGION).toBe("eu");
    for (const name of ["AWS_SECRET_ACCESS_KEY", "LD_PRELOAD", "GITHUB_TOKEN", "PATH"]) expect(spec.env).not.toHaveProperty(name);
  });

  it("takes only exact names in fromControl: a wildcard is a config error, naming the key", async () => {
    await expect(specFor({ envPolicy: { fromControl: ["TASK_*"] } }, { label: "a" })).rejects.toThrow(/fromControl.*expected an exact environment variable name \(no wildcards\)/);
  });
});
