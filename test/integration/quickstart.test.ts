import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { CLI, FAKE_BIN, ROOT, TestHome } from "../support/env.js";
import { waitFor } from "../support/wait.js";

// The README's quick start, run as written: `npm start` in one terminal, then
// the second terminal's commands in order, in another directory, with a
// fresh HOME and nothing else (no relay URL, token, config or socket). Two
// liberties, both to keep the test to itself: the relay takes any free port
// (`--port 0`, not 4850), and tmux's socket folder is the test's own
// (TMUX_TMPDIR), so the daemon's own socket (`-L agent-relay`) is a private one.
vi.setConfig({ testTimeout: 120_000 });

const run = promisify(execFile);
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const README_HOME = "/root";
const README_HOST = "vm";

let home: TestHome;
let up: ChildProcess;
let upOut = "";
const upLog: string[] = [];
let tmuxDir: string;
let userBin: string;

beforeAll(() => {
  home = new TestHome({ settleClaude: false }); // a first run: claude's dialogs are the daemon's to answer
  tmuxDir = join(home.root, "tmux");
  mkdirSync(tmuxDir, { mode: 0o700 });
  // The user is not root (the fake claude otherwise acts as the real uid: as root it refuses to bypass permissions).
  userBin = join(home.root, "bin");
  mkdirSync(userBin);
  writeFileSync(join(userBin, "claude"), `#!/bin/sh\nFAKE_CLAUDE_ROOT=0 exec ${join(FAKE_BIN, "claude")} "$@"\n`);
  chmodSync(join(userBin, "claude"), 0o755);
});

afterAll(async () => {
  if (up && up.exitCode === null) {
    up.kill("SIGINT");
    await new Promise((resolve) => up.once("exit", resolve));
  }
  // The daemon's own tmux server, in the test's socket folder: never another one.
  await run("tmux", ["-S", join(tmuxDir, `tmux-${process.getuid?.() ?? 0}`, "agent-relay"), "kill-server"]).catch(() => undefined);
  home.remove();
});

/** A terminal of this user: HOME and PATH (with claude and codex), nothing else. */
function userEnv(): NodeJS.ProcessEnv {
  return { HOME: home.home, PATH: `${userBin}:${FAKE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`, LANG: "C.UTF-8", TMUX_TMPDIR: tmuxDir };
}

/** The fenced block that follows a `<!-- quickstart:… -->` marker. */
function block(name: string): string[] {
  const at = README.indexOf(`<!-- quickstart:${name} -->`);
  expect(at, `README has a quickstart:${name} block`).toBeGreaterThan(0);
  const start = README.indexOf("```\n", at) + 4;
  return README.slice(start, README.indexOf("\n```", start)).split("\n");
}

/** What may differ between the README and this run: digits (pids, times, ports), widths of rules and columns, home and host. */
function normal(line: string, host: string): string {
  return line
    .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, "")
    .replaceAll(README_HOME, "~")
    .replaceAll(home.home, "~")
    .replace(/-S \S+\/agent-relay/, "-S …/agent-relay")
    .replace(new RegExp(`\\b${README_HOST}\\b`, "g"), "HOST")
    .replaceAll(host, "HOST")
    .replace(/\d+(\.\d+)?/g, "N")
    .replace(/─+/g, "─")
    .replace(/\s+/g, " ")
    .trim();
}

/** Splits a command line as a POSIX shell would for these commands: words, double quotes, `~/`; a `#` starts a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\s+#.*$/, "").matchAll(/"([^"]*)"|(\S+)/g)) {
    out.push(m[1] ?? m[2]!.replace(/^~(?=\/|$)/, home.home));
  }
  return out;
}

it("npm start, then the second terminal's commands, as the README writes them", async () => {
  const daemonDir = join(home.root, "clone");
  mkdirSync(daemonDir);
  up = spawn(process.execPath, [CLI, "up", "--port", "0"], { cwd: daemonDir, env: userEnv(), stdio: ["ignore", "pipe", "pipe"] });
  up.stdout!.setEncoding("utf8").on("data", (c: string) => (upOut += c));
  up.stderr!.setEncoding("utf8").on("data", (c: string) => upLog.push(...c.split("\n").filter(Boolean)));
  await waitFor("the daemon to register", () => upLog.some((l) => / registered as /.test(l)), 60_000);
  const host = /registered as (\S+) /.exec(upLog.join("\n"))![1]!;

  // `npm start`'s output: stdout first, then every log line the README shows (others may come between: doctor's warnings).
  const [urlLine, ...logLines] = block("up");
  expect(normal(upOut.split("\n")[0]!, host)).toBe(normal(urlLine!, host));
  const shown = upLog.map((l) => normal(l, host));
  for (const line of logLines) expect(shown, `npm start logs: ${line}`).toContain(normal(line, host));

  // The second terminal: another directory, only HOME and PATH.
  const elsewhere = join(home.root, "elsewhere");
  mkdirSync(elsewhere);
  const lines = block("terminal");
  let ran = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith("$ ")) continue;
    const expected: string[] = [];
    for (let j = i + 1; j < lines.length && !lines[j]!.startsWith("$ ") && lines[j] !== ""; j++) expected.push(lines[j]!);
    const [program, ...args] = words(line.slice(2));
    if (program === "mkdir") {
      for (const dir of args.filter((a) => !a.startsWith("-"))) mkdirSync(dir, { recursive: true });
      continue;
    }
    expect(program, line).toBe("npx");
    expect(args[0], line).toBe("agent-relay-orchestrator");
    // The README shows the agent idle: its turn on the prompt is over, as it is a moment after the spawn.
    if (args[1] === "ps") await waitFor("the agent's first turn to end", async () => (await run(process.execPath, [CLI, "ps", "--json"], { env: userEnv() })).stdout.includes('"state": "idle"'), 30_000);
    const result = await run(process.execPath, [CLI, ...args.slice(1)], { cwd: elsewhere, env: userEnv() }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
    );
    const refusal = expected[0]?.startsWith("error:") ?? false;
    expect(result.code === 0, `${line}\n${result.out}`).toBe(!refusal);
    const got = result.out.split("\n").filter((l) => l.trim() !== "").map((l) => normal(l, host));
    expect(got, line).toEqual(expected.filter((l) => l.trim() !== "").map((l) => normal(l, host)));
    ran++;
  }
  expect(ran).toBe(5); // spawn, ps, logs, stop, spawn gemini
});
