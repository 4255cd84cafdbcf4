import { execFile } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI, FIXTURES, ROOT, TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";

const run = promisify(execFile);
let home: TestHome;
beforeEach(() => (home = new TestHome()));
afterEach(() => home.remove());

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: home.root, env: { HOME: home.home, PATH: process.env.PATH, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("the CLI", () => {
  it("tells its real version and its commands", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(await cli(["--version"])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const word of ["run", "init", "config", "--config", "--relay-url", "--stop-agents", "AGENT_RELAY_URL"]) expect(help.stdout).toContain(word);
    const wrong = await cli(["frobnicate"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/Unknown argument: frobnicate/);
  });

  it("init writes a commented, loadable config for this host, owner-only, with no fixed id, and will not overwrite it without --force", async () => {
    const first = await cli(["init"]);
    const path = join(home.home, ".agent-relay", "orchestrator.config.ts");
    expect(first).toMatchObject({ code: 0, stdout: `${path}\n` });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toMatch(/^\/\/ agent-relay-orchestrator config for /);
    const config = await cli(["config", "--json"]);
    expect(JSON.parse(config.stdout).configFile).toBe(path);
    // No fixed id: a copy of the file on another host must not take this one's place on the relay.
    expect(readFileSync(path, "utf8")).not.toMatch(/^\s*(id|hostname):/m);
    expect(JSON.parse(config.stdout).values.id.source).toBe("default");

    writeFileSync(path, "// mine\nexport default {};\n");
    const again = await cli(["init"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists; pass --force to overwrite it");
    expect(readFileSync(path, "utf8")).toBe("// mine\nexport default {};\n");
    expect((await cli(["init", "--force"])).code).toBe(0);
    expect(readFileSync(path, "utf8")).toContain("relayUrl");
  });

  it("config shows each value's source and redacts secrets from the file and the environment", async () => {
    const out = await cli(["config"], {
      AGENT_RELAY_ORCHESTRATOR_CONFIG: join(FIXTURES, "config", "legacy-home", ".agent-relay", "orchestrator.json"),
      AGENT_RELAY_URL: "http://127.0.0.1:5000",
    });
    expect(out.code).toBe(0);
    const line = (key: string) => out.stdout.split("\n").find((l) => l.startsWith(`${key} `));
    expect(line("relayUrl")).toMatch(/= "http:\/\/127\.0\.0\.1:5000"\s+# env: environment variable AGENT_RELAY_URL$/);
    expect(line("id")).toMatch(/= "legacy-box"\s+# file: .*orchestrator\.json$/);
    expect(line("pollIntervalMs")).toMatch(/= 1000\s+# default$/);
    expect(line("token")).toMatch(/= "\*\*\*"/);
    expect(line("env.GITHUB_TOKEN")).toMatch(/= "\*\*\*"/);
    expect(out.stdout + out.stderr).not.toContain("legacy-secret-token");
    expect(out.stdout + out.stderr).not.toContain("ghp_legacy");

    const json = JSON.parse((await cli(["config", "--json"], { AGENT_RELAY_TOKEN: "env-secret-value" })).stdout);
    expect(json.values.token).toEqual({ value: "***", source: "env: environment variable AGENT_RELAY_TOKEN" });
  });

  it("stops with exit code 2 and names the key when the config is wrong", async () => {
    const file = join(home.root, "orchestrator.config.json");
    writeFileSync(file, JSON.stringify({ providers: "claude" }));
    const out = await cli(["config"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`config error:\n${file}: providers: Invalid input: expected array, received string\n`);
  });
});

describe("doctor", () => {
  it("tells a token the relay refuses from a relay that is down", async () => {
    const relay = await new TestRelay({ token: "right-token-123" }).start();
    try {
      const wrong = await cli(["doctor", "--json"], { AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: "wrong-token-456" });
      expect(wrong.code).toBe(1);
      expect(JSON.parse(wrong.stdout)).toContainEqual({ name: "relay", status: "fail", detail: `${relay.url} refuses the token` });
      expect(wrong.stdout + wrong.stderr).not.toContain("wrong-token-456");
      const right = await cli(["doctor", "--json"], { AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: "right-token-123" });
      expect(JSON.parse(right.stdout)).toContainEqual({ name: "relay", status: "ok", detail: `${relay.url} answers; it accepts the token` });
    } finally {
      await relay.stop();
    }
  });
});
