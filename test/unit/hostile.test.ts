import { mkdirSync, realpathSync, symlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Orchestrator, SpawnSpec } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator, testBuiltins } from "../support/orchestrator.js";
import { readyBackend } from "../support/providers.js";

// Every field from the relay is hostile until checked. These run through a
// real core with the built-in plugins; the backend records what would have
// started (and shows it ready), so "nothing runs" is checkable.

let home: TestHome;
let core: Orchestrator;
const started: SpawnSpec[] = [];

beforeAll(async () => {
  home = new TestHome();
  mkdirSync(join(home.root, "outside"));
  mkdirSync(join(home.root, "projects-evil"));
  symlinkSync(join(home.root, "outside"), join(home.baseDir, "link-out"));
  symlinkSync(join(home.baseDir, "link-loop"), join(home.baseDir, "link-loop"));
  const builtins = testBuiltins(home, { without: ["tmux", "relay-http"] });
  ({ orchestrator: core } = await createTestOrchestrator(
    home,
    { providers: ["claude"], logLevel: "silent", startupPollMs: 5, envPolicy: { fromControl: ["TASK_ID", "JAVA_TOOL_OPTIONS", "HTTPS_PROXY", "npm_config_registry"] } },
    { builtins: [...builtins, readyBackend(started)] },
  ));
});
afterAll(() => home.remove());

const B = () => home.baseDir;
const FUZZ = 10_000;

describe("hostile control payloads are refused with a clear answer, and nothing starts", () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ["cwd: .. traversal", () => ({ action: "spawn", cwd: `${B()}/app/../../outside` }), /\[cwd\].*is outside baseDir/],
    ["cwd: relative traversal", () => ({ action: "spawn", cwd: "../../../../etc" }), /\[cwd\].*is outside baseDir/],
    ["cwd: encoded-looking traversal is just a missing dir", () => ({ action: "spawn", cwd: "%2e%2e/%2e%2e/etc" }), /\[cwd\].*does not exist/],
    ["cwd: symlink out of baseDir", () => ({ action: "spawn", cwd: `${B()}/link-out` }), /\[cwd\].*is outside baseDir/],
    ["cwd: symlink loop", () => ({ action: "spawn", cwd: `${B()}/link-loop` }), /\[cwd\].*does not exist/],
    ["cwd: prefix trick", () => ({ action: "spawn", cwd: `${home.root}/projects-evil` }), /\[cwd\].*is outside baseDir/],
    ["cwd: absolute elsewhere", () => ({ action: "spawn", cwd: "/etc" }), /\[cwd\].*is outside baseDir/],
    ["cwd: NUL byte", () => ({ action: "spawn", cwd: `${B()}/app\u0000/x` }), /\[invalid\].*cwd: must not contain control characters/],
    ["cwd: oversized", () => ({ action: "spawn", cwd: "a".repeat(5000) }), /\[invalid\].*cwd: expected at most 4096/],
    ["label: newline", () => ({ action: "spawn", label: "a\nb" }), /\[invalid\].*label: must not contain control characters/],
    ["label: escape sequence", () => ({ action: "spawn", label: "a\u001b]0;pwned\u0007" }), /\[invalid\].*label/],
    ["label: bidi override", () => ({ action: "spawn", label: "invoice\u202Efdp.exe" }), /\[invalid\].*label/],
    ["label: oversized", () => ({ action: "spawn", label: "x".repeat(201) }), /\[invalid\].*label: expected at most 200/],
    ["label: empty", () => ({ action: "spawn", label: "" }), /\[invalid\].*label/],
    ["label: wrong type", () => ({ action: "spawn", label: { $gt: "" } }), /\[invalid\].*label/],
    ["prompt: oversized", () => ({ action: "spawn", prompt: "p".repeat(100_001) }), /\[invalid\].*prompt: expected at most 100000/],
    ["prompt: wrong type", () => ({ action: "spawn", prompt: ["rm", "-rf", "/"] }), /\[invalid\].*prompt/],
    ["provider: not configured", () => ({ action: "spawn", provider: "codex" }), /\[provider\].*"codex" is not enabled on this host/],
    ["provider: path", () => ({ action: "spawn", provider: "/bin/sh" }), /\[invalid\].*provider/],
    ["provider: prototype key", () => ({ action: "spawn", provider: "__proto__" }), /\[invalid\].*provider/],
    ["action: unknown", () => ({ action: "exec", cmd: "id" }), /\[unknown_action\]/],
    ["action: wrong type", () => ({ action: 1 }), /\[invalid\].*action/],
    ["approvalMode: shell", () => ({ action: "spawn", approvalMode: "$(id)" }), /\[invalid\].*approvalMode/],
    ["payload: array", () => [{ action: "spawn" }], /\[invalid\].*must be an object/],
    ["payload: string", () => "spawn", /\[invalid\].*must be an object/],
    ["payload: number", () => 42, /\[invalid\].*must be an object/],
    ["env: loader injection", () => ({ action: "spawn", env: { LD_PRELOAD: "/tmp/evil.so" } }), /\[vetoed\].*LD_PRELOAD is never accepted from a control/],
    ["env: PATH", () => ({ action: "spawn", env: { PATH: "/tmp/evil" } }), /\[vetoed\].*PATH is never accepted/],
    ["env: NODE_OPTIONS", () => ({ action: "spawn", env: { NODE_OPTIONS: "--require /tmp/x.js" } }), /\[vetoed\].*NODE_OPTIONS is never accepted/],
    ["env: relay token override", () => ({ action: "spawn", env: { AGENT_RELAY_TOKEN: "x" } }), /\[vetoed\].*AGENT_RELAY_TOKEN is never accepted/],
    ["env: not on the allow-list", () => ({ action: "spawn", env: { AWS_SECRET_ACCESS_KEY: "x" } }), /\[vetoed\].*may not be set by a control \(envPolicy.fromControl allows TASK_ID, /],
    ["env: bad name", () => ({ action: "spawn", env: { "A=B": "x" } }), /\[invalid\].*env/],
    ["env: newline in value", () => ({ action: "spawn", env: { TASK_ID: "1\nLD_PRELOAD=/x.so" } }), /\[vetoed\].*TASK_ID contains a newline/],
    ["restartPolicy: unknown", () => ({ action: "spawn", restartPolicy: "forever" }), /\[invalid\].*restartPolicy/],
    // invisible format characters make a label read as something else
    ...["\u200b", "\u200d", "\u200e", "\u200f", "\u061c", "\u2028", "\u2029", "\ufeff", "\u2066", "\u00ad"].map(
      (ch): [string, () => unknown, RegExp] => [`label: invisible U+${ch.codePointAt(0)!.toString(16).padStart(4, "0")}`, () => ({ action: "spawn", label: `ad${ch}min` }), /\[invalid\].*label: must not contain control characters or invisible/],
    ),
    ["agentId: zero-width space", () => ({ action: "shutdown", agentId: "a\u200bb" }), /\[invalid\].*agentId/],
    ["action: escape sequence", () => ({ action: "spawn\u001b[2J" }), /\[invalid\].*action: expected an action name/],
    ["action: spaces and quotes", () => ({ action: "x\" y" }), /\[invalid\].*action/],
    ["action: oversized", () => ({ action: "a".repeat(65) }), /\[invalid\].*action/],
    // names that change how runtimes, git, package managers, TLS, proxies or endpoints behave: refused
    // even where the config lists them in fromControl (three of these are on this test's list)
    ...[
      "JAVA_TOOL_OPTIONS", "GIT_CONFIG_PARAMETERS", "GIT_DIR", "npm_config_registry", "NPM_CONFIG_USERCONFIG", "NODE_TLS_REJECT_UNAUTHORIZED",
      "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "XDG_CONFIG_HOME", "ZDOTDIR", "PYTHONWARNINGS",
    ].map((name): [string, () => unknown, RegExp] => [`env: ${name}`, () => ({ action: "spawn", env: { [name]: "x" } }), new RegExp(`\\[vetoed\\].*${name} is never accepted from a control`)]),
  ];

  it.each(cases)("%s", async (_name, payload, expected) => {
    const before = started.length;
    const result = await answer(payload());
    expect(result).toMatch(expected);
    expect(started.length).toBe(before);
  });

  it("accepts env on the allow-list, and keeps shell metacharacters as plain data", async () => {
    const label = `x'; touch /tmp/pwned; echo '$(id)\`id\`;`;
    const result = await answer({ action: "spawn", label, prompt: "$(reboot); `halt` && rm -rf / ;", env: { TASK_ID: "42; rm -rf /" } });
    expect(result).toMatch(/^ok: spawned ar-claude-x-touch-tmp-pwned-echo-id-id-$/);
    const spec = started.at(-1)!;
    expect(spec.env.TASK_ID).toBe("42; rm -rf /");
    expect(spec.label).toBe(label);
    expect(spec.command).toContain("$(reboot); `halt` && rm -rf / ;");
  });

  it.each(["--dangerously-skip-permissions", "--mcp-config=/tmp/evil.json", "--settings={\"hooks\":{}}", "--add-dir=/", "-p", "--"])(
    "passes the argument-shaped prompt %j to claude after \"--\", as text",
    async (prompt) => {
      expect(await answer({ action: "spawn", label: `argp-${started.length}`, prompt })).toMatch(/^ok: spawned/);
      const { command } = started.at(-1)!;
      expect(command.slice(-2)).toEqual(["--", prompt]);
      expect(command.indexOf("--")).toBe(command.length - 2);
    },
  );
});

/** What the daemon would answer, as one line. */
async function answer(payload: unknown): Promise<string> {
  const { parseControl, ControlError } = await import("../../core/index.js");
  let control;
  try {
    control = parseControl(payload);
  } catch (err) {
    return `[${(err as InstanceType<typeof ControlError>).code}] ${(err as Error).message}`;
  }
  const result = await core.dispatch(control, { messageId: 1, createdAt: Date.now() });
  return result.ok ? `ok: ${result.message}` : `[${result.code}] ${result.error}`;
}

describe("fuzz: random payloads at the control handler", () => {
  it("answers 10,000 random payloads, never throws, and never starts anything outside baseDir", async () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const strings = [
      "", "..", "../..", "/", "/etc", "/tmp", `${B()}/app`, `${B()}/link-out`, `${B()}/../outside`, "app", "app/../..", "\u0000", "\u202e",
      "$(id)", "`id`", "a;b", "#{session_name}", "x".repeat(300), "claude", "codex", "spawn", "restart", "shutdown", "ÿ", "🙂", "\n", "%00", "~",
      "--add-dir=/", "--dangerously-skip-permissions", "-p", "--", "\u001b[201~", "\r", "\u0003", "a\u200bb", "\ufeff", "\u2028", "\u0085",
    ];
    const values = () => pick<unknown>([pick(strings), rand() * 1e9, null, true, [], {}, [pick(strings)], { a: pick(strings) }, undefined]);
    const keys = ["action", "provider", "cwd", "label", "prompt", "approvalMode", "agentId", "env", "replace", "restartPolicy", "requestedAt", "__proto__", "constructor"];
    const baseReal = realpathSync(B());
    const codes = new Map<string, number>();
    for (let i = 0; i < FUZZ; i++) {
      const payload: Record<string, unknown> = { action: pick(["spawn", "spawn", "restart", "shutdown", pick(strings)]) };
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) payload[pick(keys)] = values();
      const result = await answer(rand() < 0.05 ? values() : payload);
      // Every answer is a success or a refusal with a reason the sender can act on: never an
      // internal failure (a TypeError from a field of the wrong shape would be "[failed]").
      const code = result.startsWith("ok: ") ? "ok" : (result.match(/^\[([a-z_]+)\] /)?.[1] ?? "malformed");
      expect(["ok", "invalid", "cwd", "provider", "vetoed", "unknown_action", "not_found"], result).toContain(code);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // the fuzz reached every kind of answer, not only one refusal
    for (const code of ["ok", "invalid", "cwd", "unknown_action", "not_found"]) expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    expect(started.length).toBeGreaterThan(50); // the fuzz did reach real spawns, not only refusals
    const { UNSAFE_TEXT } = await import("../../core/index.js");
    for (const spec of started) {
      const rel = relative(baseReal, realpathSync(spec.realCwd));
      expect(rel.startsWith(".."), spec.realCwd).toBe(false);
      expect(UNSAFE_TEXT.test(spec.label), JSON.stringify(spec.label)).toBe(false);
      // whatever the prompt looked like, it is the one argument after "--"
      expect(spec.command.slice(-2), JSON.stringify(spec.command)).toEqual(["--", spec.prompt ?? expect.any(String)]);
    }
    // still serving
    expect(await answer({ action: "spawn", label: "after-fuzz" })).toMatch(/^ok: spawned ar-claude-after-fuzz$/);
  }, 120_000);
});
