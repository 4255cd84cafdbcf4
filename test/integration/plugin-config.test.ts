import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI, TestHome } from "../support/env.js";

const run = promisify(execFile);
let home: TestHome;
let work: string;
beforeEach(() => {
  home = new TestHome();
  work = join(home.root, "elsewhere"); // outside the repository: no node_modules on the way up
  mkdirSync(work);
});
afterEach(() => home.remove());

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: work, env: { HOME: home.home, PATH: process.env.PATH, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Writes `~/.agent-relay/orchestrator.config.ts`, owner-only, and answers its path. */
function homeConfig(source: string): string {
  const dir = join(home.home, ".agent-relay");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "orchestrator.config.ts");
  writeFileSync(path, source);
  chmodSync(path, 0o600);
  return path;
}

const line = (stdout: string, key: string) => stdout.split("\n").find((l) => l.startsWith(`${key} `));

describe("config that plugins own, loaded from anywhere", () => {
  it("loads a home-directory config that imports the package, from a directory outside the repository", async () => {
    const path = homeConfig(`import { defineConfig, defineProvider } from "agent-relay-orchestrator";
import { tmuxPlugin } from "agent-relay-orchestrator/plugins";

const echo = defineProvider({ name: "echo", command: () => ({ command: ["cat"] }), ready: { all: ["."] } });
export default defineConfig({ id: "from-home", providers: ["echo"], plugins: [echo], tmux: { height: tmuxPlugin().name === "tmux" ? 40 : 41 } });
`);
    const config = await cli(["config"]);
    expect(config.stderr).toBe("");
    expect(config.code).toBe(0);
    expect(config.stdout).toContain(`# config file: ${path}`);
    expect(line(config.stdout, "id")).toMatch(/= "from-home"/);
    expect(line(config.stdout, "plugins")).toMatch(/= \["echo"\]/);
    expect(line(config.stdout, "tmux.height")).toMatch(/= 40 {2}# file: /);

    const doctor = await cli(["doctor", "--json"]);
    const checks = JSON.parse(doctor.stdout) as Array<{ name: string; status: string }>;
    expect(checks).toContainEqual(expect.objectContaining({ name: "provider echo", status: "ok" }));
  });

  it("config shows each plugin's defaults, and the tmux socket variable bound by the tmux plugin", async () => {
    const out = await cli(["config"], { AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: "from-env" });
    expect(out.code).toBe(0);
    expect(line(out.stdout, "tmux.width")).toMatch(/= 200 {2}# default$/);
    expect(line(out.stdout, "restarts.policy")).toMatch(/= "never" {2}# default$/);
    expect(line(out.stdout, "relayServer.port")).toMatch(/= 4850 {2}# default$/);
    expect(line(out.stdout, "tmux.socketName")).toMatch(/= "from-env" {2}# env: environment variable AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET$/);
  });

  it("refuses a misspelt key, in a section or at the top, naming the file, the key and what was meant (exit 2)", async () => {
    const path = homeConfig(`export default { envPolicy: { denyy: ["DB_*"] }, envPolcy: { deny: ["DB_*"] }, tmux: { widht: 120 } };\n`);
    for (const command of ["config", "doctor", "run"]) {
      const out = await cli([command]);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(`${path}: envPolicy: unknown key "denyy" (did you mean "deny"?)`);
      expect(out.stderr).toContain(`${path}: envPolcy: unknown key (did you mean "envPolicy"?)`);
      expect(out.stderr).toContain(`${path}: tmux: unknown key "widht" (did you mean "width"?)`);
    }
  });
});

describe("the relay server, a component the relay command runs (not a plugin)", () => {
  it("serves the relay API, and closes it on SIGTERM with exit code 0", async () => {
    const dataDir = join(home.root, "relay-data");
    const child = spawn(process.execPath, [CLI, "relay", "--port", "0", "--data-dir", dataDir], {
      cwd: work,
      env: { HOME: home.home, PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let stdout = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const found = /^relay (http:\/\/\S+)$/m.exec(stdout);
        if (found) resolve(found[1]!);
      });
      void exited.then(() => reject(new Error(`the relay exited before it listened: ${stdout}`)));
    });
    const token = readFileSync(join(dataDir, "token"), "utf8").trim();
    const health = await fetch(`${url}/api/health`, { headers: { "X-Agent-Relay-Token": token } });
    expect(health.status).toBe(200);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });
});
