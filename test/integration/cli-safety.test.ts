import { execFile, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../../core/index.js";
import { CLI, TestHome } from "../support/env.js";

// Issue 10, points 3, 6 and 7: what the CLI prints from a relay is shown and
// never acted on by the terminal; `config` shows no secret; a config file is
// taken only from where the user put it.

const run = promisify(execFile);
let home: TestHome;
let server: Server | undefined;
beforeEach(() => (home = new TestHome()));
afterEach(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
  home.remove();
});

async function cli(args: string[], env: Record<string, string> = {}, cwd = home.root) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env: { HOME: home.home, PATH: process.env.PATH, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const EVIL = "\u001b]0;owned\u0007\u001b[2J\u202eevil\u200b\u0085";
/** Anything a terminal would act on: C0 but newline, DEL, C1, bidi and invisible format characters. */
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]/;

/** A relay that answers every route with what the test scripted (hostile text, malformed records). */
async function hostileRelay(routes: Record<string, { status?: number; body: unknown }>): Promise<string> {
  server = createServer((req, res) => {
    const route = routes[`${req.method} ${(req.url ?? "").split("?")[0]}`];
    const body = typeof route?.body === "string" ? route.body : JSON.stringify(route?.body ?? { error: "no route" });
    res.writeHead(route?.status ?? (route ? 200 : 404), { "Content-Type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("what the CLI prints from a relay", () => {
  const hosts = [
    {
      id: `box${EVIL}`,
      online: true,
      lastSeen: Date.now(),
      agents: [
        { tmuxSession: `ar-claude-x${EVIL}`, provider: "claude", label: `lbl${EVIL}`, status: "exited", exitCode: 1, detail: `died${EVIL}`, startedAt: Date.now(), cwd: `/p${EVIL}` },
        { tmuxSession: 5, provider: null, label: { $gt: "" }, startedAt: "yesterday", status: ["x"] }, // malformed
        "not an agent",
        null,
      ],
    },
    { id: "bare", online: false, lastSeen: "never", agents: "none" }, // malformed
  ];

  it("ps shows hostile labels, paths and details escaped, and survives malformed records", async () => {
    const url = await hostileRelay({ "GET /api/orchestrators": { body: hosts } });
    const ps = await cli(["ps", "--relay-url", url]);
    expect(ps.stderr).toBe("");
    expect(ps.code).toBe(0);
    expect(ps.stdout).not.toMatch(ACTIVE);
    expect(ps.stdout).toContain("lbl\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\u200b\\x85");
    expect(ps.stdout).toContain("└ died\\x1b]0;owned");
    expect(ps.stdout).toMatch(/^bare\s+offline\s+\?\s+-$/m);
  });

  it("ps --json is valid JSON of the same records with nothing a terminal would act on", async () => {
    const url = await hostileRelay({ "GET /api/orchestrators": { body: hosts } });
    const ps = await cli(["ps", "--json", "--relay-url", url]);
    expect(ps.code).toBe(0);
    expect(ps.stdout).not.toMatch(ACTIVE);
    // the same records, less what is not a record at all
    const records = hosts.map((h) => ({ ...h, agents: Array.isArray(h.agents) ? h.agents.filter((a) => typeof a === "object" && a !== null) : [] }));
    expect(JSON.parse(ps.stdout)).toEqual(records);
  });

  it("a refusal and an error body from the relay reach stderr escaped", async () => {
    const url = await hostileRelay({
      "GET /api/orchestrators": { body: [{ id: "box", online: true, lastSeen: Date.now(), agents: [] }] },
      "POST /api/messages": { status: 201, body: { id: 7 } },
      "GET /api/messages/7/result": { body: { ok: false, action: "spawn", code: `bad${EVIL}`, error: `no${EVIL}` } },
    });
    const spawn = await cli(["spawn", "claude", "--wait", "--relay-url", url]);
    expect(spawn.code).toBe(1);
    expect(spawn.stderr).toContain("error: box refused spawn [bad\\x1b]0;owned");
    expect(spawn.stderr.slice(0, -1)).not.toMatch(ACTIVE);

    const broken = await hostileRelay({ "GET /api/orchestrators": { status: 500, body: `{"error":"boom${EVIL}"}` } });
    const ps = await cli(["ps", "--relay-url", broken]);
    expect(ps.code).toBe(1);
    expect(ps.stderr).toContain("HTTP 500");
    expect(ps.stderr.slice(0, -1)).not.toMatch(ACTIVE);
  });
});

describe("pipes and bad numbers", () => {
  it("ps piped into a reader that stops early ends quietly (EPIPE), with no stack trace", async () => {
    const many = Array.from({ length: 3000 }, (_, i) => ({ id: `host-${i}`, online: true, lastSeen: Date.now(), agents: [] }));
    const url = await hostileRelay({ "GET /api/orchestrators": { body: many } });
    const child = spawn(process.execPath, [CLI, "ps", "--relay-url", url], { cwd: home.root, env: { HOME: home.home, PATH: process.env.PATH }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.stdout!.once("data", () => child.stdout!.destroy()); // like `| head -1`
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("refuses a number flag that is not a number above 0 as a usage error (exit 2), before sending anything", async () => {
    for (const args of [["spawn", "claude", "--timeout", "abc"], ["stop", "x", "--timeout", "-1"], ["logs", "x", "--lines", "0"]]) {
      const out = await cli([...args, "--relay-url", "http://127.0.0.1:1"]);
      expect(out.code, args.join(" ")).toBe(2);
      expect(out.stderr).toMatch(/^error: --(timeout|lines): expected a number above 0\n$/);
    }
  });
});

describe("config shows no secret", () => {
  it("redacts host tokens, passwords in URLs and env values with secret-looking names", async () => {
    const secrets = ["host-token-abcdef0123456789", "pw-in-url-5150", "db-password-999", "AKIAEXAMPLE12345", "ghp_exampletoken1", "sess-secret-77"];
    writeFileSync(
      join(home.root, "orchestrator.config.json"),
      JSON.stringify({
        relayUrl: "http://alice:pw-in-url-5150@127.0.0.1:4850",
        relayServer: { hostTokens: { box: "host-token-abcdef0123456789" } },
        env: { DB_PASSWORD: "db-password-999", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE12345", GH_TOKEN: "ghp_exampletoken1", SESSION_SECRET: "sess-secret-77", TEAM: "core" },
      }),
    );
    for (const args of [["config"], ["config", "--json"]]) {
      const out = await cli(args);
      expect(out.code).toBe(0);
      for (const secret of secrets) expect(out.stdout + out.stderr).not.toContain(secret);
      expect(out.stdout).toContain("core"); // ordinary values still show
      expect(out.stdout).toContain("alice:***@127.0.0.1");
    }
  });
});

describe("config is found only where the user put it", () => {
  let top: string;
  beforeEach(() => {
    top = realpathSync(mkdtempSync(join(tmpdir(), "aro-disc-")));
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  it("does not walk above the home directory", async () => {
    const userHome = join(top, "home", "u");
    mkdirSync(join(userHome, "work", "app"), { recursive: true });
    writeFileSync(join(top, "home", "orchestrator.config.json"), JSON.stringify({ id: "planted-above-home" }));
    const config = await resolveConfig({}, { cwd: join(userHome, "work", "app"), env: { HOME: userHome } });
    expect(config.configFile).toBeUndefined();
    writeFileSync(join(userHome, "orchestrator.config.json"), JSON.stringify({ id: "mine" }));
    expect((await resolveConfig({}, { cwd: join(userHome, "work", "app"), env: { HOME: userHome } })).id).toBe("mine");
  });

  it("stops at a directory others can write (a planted /tmp config is never loaded)", async () => {
    const shared = join(top, "shared");
    mkdirSync(join(shared, "mine"), { recursive: true });
    chmodSync(shared, 0o1777);
    writeFileSync(join(shared, "orchestrator.config.json"), JSON.stringify({ id: "planted", plugins: ["/tmp/evil.js"] }));
    const config = await resolveConfig({}, { cwd: join(shared, "mine"), env: { HOME: join(top, "nohome") } });
    expect(config.configFile).toBeUndefined();
    expect(config.id).not.toBe("planted");
  });

  it("stops at a directory another user owns", async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // only root can give a folder away
    const theirs = join(top, "theirs");
    mkdirSync(join(theirs, "mine"), { recursive: true });
    writeFileSync(join(theirs, "orchestrator.config.json"), JSON.stringify({ id: "planted" }));
    chownSync(theirs, 65534, 65534);
    const config = await resolveConfig({}, { cwd: join(theirs, "mine"), env: { HOME: join(top, "nohome") } });
    expect(config.configFile).toBeUndefined();
    expect(config.id).not.toBe("planted");
  });

  it("takes package.json#orchestrator only from the directory it runs in", async () => {
    const userHome = join(top, "u");
    mkdirSync(join(userHome, "app", "sub"), { recursive: true });
    writeFileSync(join(userHome, "app", "package.json"), JSON.stringify({ name: "app", orchestrator: { id: "from-pkg" } }));
    expect((await resolveConfig({}, { cwd: join(userHome, "app", "sub"), env: { HOME: userHome } })).configFile).toBeUndefined();
    expect((await resolveConfig({}, { cwd: join(userHome, "app"), env: { HOME: userHome } })).id).toBe("from-pkg");
  });

  it("refuses a code config file that others can write, naming the file and why", async () => {
    const userHome = join(top, "u");
    mkdirSync(join(userHome, "app"), { recursive: true });
    const file = join(userHome, "app", "orchestrator.config.mjs");
    writeFileSync(file, 'export default { id: "code" };\n');
    chmodSync(file, 0o666);
    await expect(resolveConfig({}, { cwd: join(userHome, "app"), env: { HOME: userHome } })).rejects.toThrow(
      `${file}: refusing to load a code config file that group or others may write (mode 666); run: chmod go-w ${file}`,
    );
    await expect(resolveConfig({}, { configFile: file, env: { HOME: userHome } })).rejects.toThrow(/group or others may write/);
    chmodSync(file, 0o644);
    expect((await resolveConfig({}, { cwd: join(userHome, "app"), env: { HOME: userHome } })).id).toBe("code");
  });

  it("refuses a code config file that another user owns", async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // only root can give a file away
    const userHome = join(top, "u");
    mkdirSync(join(userHome, "app"), { recursive: true });
    const file = join(userHome, "app", "orchestrator.config.mjs");
    writeFileSync(file, 'export default { id: "code" };\n');
    chownSync(file, 65534, 65534);
    await expect(resolveConfig({}, { cwd: join(userHome, "app"), env: { HOME: userHome } })).rejects.toThrow(
      `${file}: refusing to load a code config file owned by uid 65534, not by this user (uid 0)`,
    );
  });
});
