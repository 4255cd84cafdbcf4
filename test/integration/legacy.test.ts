import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI, ROOT, TestHome } from "../support/env.js";
import { waitFor } from "../support/wait.js";

// The unmodified 0.9.0 reference daemon, run with Bun (a dev dependency), against our relay.
const SEED = join(ROOT, "..", "shared", "seed", "agent-relay-orchestrator-0.9.0", "src", "index.ts");
const BUN = join(ROOT, "node_modules", ".bin", "bun");

let home: TestHome;
let tmuxDir: string;
const children: ChildProcess[] = [];

/** 0.9.0 always uses tmux's default socket; TMUX_TMPDIR moves that socket into this test's own directory. */
const tmux = (...args: string[]) => execFileSync("tmux", ["-S", join(tmuxDir, `tmux-${process.getuid!()}`, "default"), ...args], { encoding: "utf8" });
const sessions = () => {
  try {
    return tmux("list-sessions", "-F", "#{session_name}").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

beforeEach(() => {
  home = new TestHome();
  tmuxDir = join(home.root, "tmux");
  mkdirSync(tmuxDir);
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on("exit", r)));
  }
  try {
    tmux("kill-server");
  } catch {
    // no server
  }
  home.remove();
});

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { cwd: home.root, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (out += c));
  return { child, output: () => out };
}

describe.skipIf(!existsSync(SEED))("an unmodified 0.9.0 daemon against `agent-relay-orchestrator relay`", () => {
  it("registers, takes a spawn sent with our CLI, reports the agent, and stops it", async () => {
    // The relay always has a token; 0.9.0 takes it from AGENT_RELAY_TOKEN.
    const env = home.env({ TMUX_TMPDIR: tmuxDir, AGENT_RELAY_TOKEN: "legacy-test-token-0123456789" });
    const relay = start(process.execPath, [CLI, "relay", "--port", "0", "--data-dir", join(home.root, "relay")], env);
    const url = await waitFor("the relay URL", () => relay.output().match(/^relay (http:\/\/\S+)$/m)?.[1]);
    const daemonEnv = { ...env, AGENT_RELAY_URL: url, AGENT_RELAY_ORCHESTRATOR_ID: "legacy", AGENT_RELAY_ORCHESTRATOR_BASE_DIR: home.baseDir };
    const legacy = start(BUN, ["run", SEED], daemonEnv);
    await waitFor("0.9.0 to register", () => legacy.output().includes("Registered as legacy"), 20_000);

    const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { cwd: home.root, env: { ...env, AGENT_RELAY_URL: url }, encoding: "utf8" });
    expect(JSON.parse(cli("ps", "--json"))).toEqual([expect.objectContaining({ id: "legacy", online: true, protocolVersion: 2, version: "0.9.0" })]);
    // 0.9.0 answers no control: spawn waits until it took the message, and says that much
    expect(cli("spawn", "codex", "--label", "coder", "--cwd", home.project)).toBe("legacy: took the spawn (this daemon does not report outcomes: see ps)\n");

    await waitFor("0.9.0 to report the agent", () => JSON.parse(cli("ps", "--json"))[0].agents.length === 1, 20_000);
    expect(JSON.parse(cli("ps", "--json"))[0].agents[0]).toMatchObject({ provider: "codex", tmuxSession: "ar-codex-coder", label: "coder", cwd: home.project });
    expect(sessions()).toEqual(["ar-codex-coder"]);

    expect(cli("stop", "coder", "--no-wait")).toMatch(/^sent shutdown to legacy/);
    await waitFor("0.9.0 to stop it", () => sessions().length === 0 && JSON.parse(cli("ps", "--json"))[0].agents.length === 0, 20_000);
  });
});
