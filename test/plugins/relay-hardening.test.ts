import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { execFile } from "node:child_process";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { CLI } from "../support/env.js";

// What a web page, a DNS-rebinding page, a neighbour host or a malformed
// report can make the relay do: nothing.

const dirs: string[] = [];
const servers: RelayServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "aro-relay-"));
  dirs.push(dir);
  return join(dir, "data");
}

const TOKEN = "admin-token-0123456789";
const admin = { "X-Agent-Relay-Token": TOKEN };

/** One raw HTTP request, headers exactly as given (a browser's, a rebinding page's). */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(`${url}/api${path}`, { method, headers: { ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function relay(options: Partial<ConstructorParameters<typeof RelayServer>[0]> = {}) {
  const server = new RelayServer({ dataDir: dataDir(), port: 0, ...options });
  servers.push(server);
  await server.listen();
  const host = new URL(server.url).host;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    raw(server.url, method, path, { Host: host, "Content-Type": "application/json", ...headers }, body === undefined ? undefined : JSON.stringify(body));
  return { server, host, call };
}

const spawnControl = { to: "orchestrator-box", kind: "control", payload: { orchestratorControl: { action: "spawn", prompt: "pwned" } } };

describe("relay: browser-shaped requests", () => {
  it("refuses a text/plain POST, a foreign Origin, a foreign Host, and no token; nothing is queued", async () => {
    const { server, host, call } = await relay({ token: TOKEN });
    const body = JSON.stringify(spawnControl);
    // a cross-site form or no-cors fetch: text/plain, the page's Origin
    const textPlain = await raw(server.url, "POST", "/messages", { Host: host, "Content-Type": "text/plain;charset=UTF-8", ...admin }, body);
    expect(textPlain).toEqual({ status: 415, body: { error: expect.stringMatching(/application\/json/) } });
    const noType = await raw(server.url, "POST", "/messages", { Host: host, ...admin }, body);
    expect(noType.status).toBe(415);
    const foreign = await call("POST", "/messages", spawnControl, { Origin: "https://evil.example", ...admin });
    expect(foreign).toEqual({ status: 403, body: { error: expect.stringMatching(/evil\.example.*cross-origin/) } });
    expect((await call("GET", "/orchestrators", undefined, { Origin: "null", ...admin })).status).toBe(403);
    // DNS rebinding: the page's own name in Host, the relay's address underneath
    const rebound = await call("POST", "/messages", spawnControl, { Host: `evil.example:${new URL(server.url).port}`, ...admin });
    expect(rebound).toEqual({ status: 403, body: { error: expect.stringMatching(/evil\.example.*not an address this relay serves/) } });
    expect((await call("GET", "/messages/cursor", undefined, { Host: "localhost:1", ...admin })).status).toBe(403);
    expect((await call("POST", "/messages", spawnControl)).status).toBe(401);
    expect(server.store.latestMessageId()).toBe(0);

    // what our client and 0.9.0 send passes: JSON, no Origin, a loopback Host
    expect((await call("GET", "/messages/cursor", undefined, admin)).status).toBe(200);
    expect((await call("GET", "/messages/cursor", undefined, { Host: `localhost:${new URL(server.url).port}`, ...admin })).status).toBe(200);
    expect((await call("POST", "/messages", spawnControl, { Origin: server.url, ...admin })).status).toBe(201);
    expect((await raw(server.url, "DELETE", "/agents/none", { Host: host, ...admin })).status).toBe(404);
    expect((await raw(server.url, "POST", "/orchestrators/box/heartbeat", { Host: host, ...admin })).status).toBe(404);
  });

  it("accepts a Host named in allowedHosts (a TLS proxy's name)", async () => {
    const { call } = await relay({ token: TOKEN, allowedHosts: ["relay.example.com"] });
    expect((await call("GET", "/messages/cursor", undefined, { Host: "relay.example.com", ...admin })).status).toBe(200);
    expect((await call("GET", "/messages/cursor", undefined, { Host: "relay.example.com", Origin: "https://relay.example.com", ...admin })).status).toBe(200);
    expect((await call("GET", "/messages/cursor", undefined, { Host: "other.example.com", ...admin })).status).toBe(403);
  });

  it("refuses a token shorter than 16 characters", () => {
    expect(() => new RelayServer({ dataDir: dataDir(), token: "short-token" })).toThrow(/shorter than 16/);
  });
});

describe("relay: rate limits", () => {
  it("gives requests with a wrong token a bucket of their own: a flood of them does not starve the right token", async () => {
    const { call } = await relay({ token: TOKEN, rateLimit: { perSecond: 1, burst: 5 } });
    const bad = [];
    for (let i = 0; i < 10; i++) bad.push((await call("GET", "/messages/cursor", undefined, { "X-Agent-Relay-Token": `wrong-token-0123456789-${i}` })).status);
    expect(bad.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(bad.at(-1)).toBe(429);
    expect((await call("GET", "/messages/cursor", undefined, admin)).status).toBe(200);
  });
});

describe("relay: host tokens isolate hosts", () => {
  const A = { "X-Agent-Relay-Token": "host-a-token-0123456789" };
  const B = { "X-Agent-Relay-Token": "host-b-token-0123456789" };
  const hostTokens = { a: "host-a-token-0123456789", b: "host-b-token-0123456789" };

  it("lets a host token change only its own agent records, read only its own host, and not claim another hostname", async () => {
    const { call } = await relay({ token: TOKEN, hostTokens });
    expect((await call("POST", "/orchestrators", { id: "a", hostname: "host-b" }, A)).status).toBe(200);
    expect((await call("POST", "/orchestrators", { id: "b", hostname: "host-b" }, B)).status).toBe(200);
    const hostsOfA = (await call("GET", "/orchestrators", undefined, A)).body;
    expect(hostsOfA.map((h: any) => [h.id, h.hostname])).toEqual([["a", "a"]]);
    expect((await call("GET", "/orchestrators/b", undefined, A)).status).toBe(403);
    expect((await call("GET", "/orchestrators", undefined, admin)).body.map((h: any) => h.id)).toEqual(["a", "b"]);
    // only a host's own daemon says it is going offline; only the admin removes hosts
    expect((await call("POST", "/orchestrators/b/offline", {}, A)).status).toBe(403);
    expect((await call("DELETE", "/orchestrators/b?force=true", undefined, A)).status).toBe(403);
    expect((await call("DELETE", "/orchestrators/a?force=true", undefined, A)).status).toBe(403);
    expect((await call("GET", "/orchestrators", undefined, admin)).body.map((h: any) => [h.id, h.online])).toEqual([["a", true], ["b", true]]);

    expect((await call("POST", "/agents", { id: "rec-b", label: "b's", tags: ["dashboard-spawned", "host-b"] }, B)).status).toBe(201);
    expect((await call("POST", "/agents", { id: "rec-admin", label: "admin's" }, admin)).status).toBe(201);
    // A may not replace or delete B's record, nor the admin's
    expect((await call("POST", "/agents", { id: "rec-b", label: "taken over" }, A)).status).toBe(403);
    expect((await call("POST", "/agents", { id: "rec-admin", label: "taken over" }, A)).status).toBe(403);
    expect((await call("DELETE", "/agents/rec-b", undefined, A)).status).toBe(403);
    expect((await call("DELETE", "/agents/rec-admin", undefined, A)).status).toBe(403);
    // A's own record: created, replaced, listed (alone), deleted
    expect((await call("POST", "/agents", { id: "rec-a", label: "a's" }, A)).status).toBe(201);
    expect((await call("POST", "/agents", { id: "rec-a", label: "a's again" }, A)).status).toBe(201);
    expect((await call("GET", "/agents", undefined, A)).body).toEqual([{ id: "rec-a", label: "a's again" }]);
    expect((await call("GET", "/agents", undefined, admin)).body.map((r: any) => [r.id, r.label])).toEqual([
      ["rec-a", "a's again"],
      ["rec-admin", "admin's"],
      ["rec-b", "b's"],
    ]);
    expect((await call("DELETE", "/agents/rec-a", undefined, A)).status).toBe(200);
    expect((await call("DELETE", "/agents/rec-b", undefined, B)).status).toBe(200);
  });

  it("lets host tokens read every host when hostTokensReadAll is set", async () => {
    const { call } = await relay({ token: TOKEN, hostTokens, hostTokensReadAll: true });
    await call("POST", "/orchestrators", { id: "a" }, A);
    await call("POST", "/orchestrators", { id: "b" }, B);
    expect((await call("GET", "/orchestrators", undefined, A)).body.map((h: any) => h.id)).toEqual(["a", "b"]);
    expect((await call("GET", "/orchestrators/b", undefined, A)).status).toBe(200);
    expect((await call("PATCH", "/orchestrators/b/agents", { agents: [] }, A)).status).toBe(403);
  });
});

describe("relay: agent reports", () => {
  const good = { agentId: "", provider: "claude", tmuxSession: "ar-claude-a", cwd: "/p", label: "a", approvalMode: "guarded", pid: 42, startedAt: 1 };

  it("refuses a malformed report with 400 naming the field, and takes extra fields within bounds", async () => {
    const { call, server } = await relay({ token: TOKEN });
    await call("POST", "/orchestrators", { id: "box" }, admin);
    const patch = (agents: unknown) => call("PATCH", "/orchestrators/box/agents", { agents }, admin);
    expect(await patch([{ ...good, pid: "42; rm -rf /" }])).toEqual({ status: 400, body: { error: expect.stringMatching(/^agents\.0\.pid: /) } });
    expect(await patch([{ ...good, tmuxSession: 7 }])).toEqual({ status: 400, body: { error: expect.stringMatching(/^agents\.0\.tmuxSession: /) } });
    expect((await patch([{ ...good, label: "x".repeat(201) }])).body.error).toMatch(/^agents\.0\.label: expected at most 200 characters/);
    expect((await patch([{ ...good, lastLines: Array(501).fill("line") }])).body.error).toMatch(/^agents\.0\.lastLines: /);
    expect((await patch([{ ...good, extra: "y".repeat(20_000) }])).body.error).toMatch(/^agents\.0: fields beyond the report's own/);
    expect((await patch("nope")).body.error).toMatch(/^agents: /);
    expect(server.store.host("box")!.agents).toEqual([]);
    // 0.9.0 sends a pid it could not read as null; newer daemons add fields
    expect((await patch([{ ...good, pid: null, status: "ready", lastLines: ["ok"], somethingNew: { a: 1 } }])).status).toBe(200);
    expect(server.store.host("box")!.agents).toEqual([{ ...good, pid: null, status: "ready", lastLines: ["ok"], somethingNew: { a: 1 } }]);
  });

  it("keeps no token in its tables, whoever echoes one (a report, an answer, a registration)", async () => {
    const HOST_TOKEN = "host-token-abcdef0123456789";
    const { call, server } = await relay({ token: TOKEN, hostTokens: { box: HOST_TOKEN } });
    await call("POST", "/orchestrators", { id: "box", meta: { note: `admin ${TOKEN}` } }, admin);
    await call("PATCH", "/orchestrators/box/agents", { agents: [{ ...good, detail: `printed ${TOKEN} and ${HOST_TOKEN}`, lastLines: [HOST_TOKEN] }] }, admin);
    const { body: message } = await call("POST", "/messages", spawnControl, admin);
    await call("POST", `/messages/${message.id}/result`, { ok: false, action: "spawn", code: "failed", error: `env had ${HOST_TOKEN}` }, admin);
    const stored = JSON.stringify([server.store.hosts(), server.store.result(message.id)]);
    expect(stored).toContain("printed *** and ***");
    expect(stored).not.toContain(TOKEN);
    expect(stored).not.toContain(HOST_TOKEN);
  });
});

describe("ps and a malformed record already stored", () => {
  it("lists the host and what it can of its agents, without crashing", async () => {
    const { server, call } = await relay({ token: TOKEN });
    await call("POST", "/orchestrators", { id: "box" }, admin);
    // what an older relay may have stored, bypassing today's schema
    server.store.setHostAgents("box", [{ tmuxSession: 7, provider: null, label: { a: 1 }, startedAt: "yesterday", cwd: ["/p"] }, null, "str", 3], Date.now());
    const ps = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, "ps"], { env: { ...process.env, AGENT_RELAY_URL: server.url, AGENT_RELAY_TOKEN: TOKEN } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    );
    expect(ps.stderr).toBe("");
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/^box\s+online\s.*\b7\b/m);
  });
});

describe("relay: poll answers", () => {
  it("caps an answer at a few MB (always one message), and takes a smaller limit", async () => {
    const { call } = await relay({ token: TOKEN });
    const big = "x".repeat(1_000_000);
    for (let i = 0; i < 8; i++) expect((await call("POST", "/messages", { to: "orchestrator-box", kind: "chat", body: big }, admin)).status).toBe(201);
    const first = await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true", undefined, admin);
    expect(first.body.length).toBeGreaterThanOrEqual(1);
    expect(first.body.length).toBeLessThanOrEqual(4);
    expect(JSON.stringify(first.body).length).toBeLessThanOrEqual(4 * 1024 * 1024);
    const limited = await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true&limit=2", undefined, admin);
    expect(limited.body.map((m: any) => m.id)).toEqual([1, 2]);
    expect((await call("GET", "/messages?for=orchestrator-box&sinceId=7&unread=true&limit=0", undefined, admin)).body.map((m: any) => m.id)).toEqual([8]);
  });
});

describe("relay: data dir", () => {
  it("tightens a data dir of ours that others may enter, and refuses one that belongs to someone else", async () => {
    const open = dataDir();
    mkdirSync(open, { recursive: true, mode: 0o777 });
    chmodSync(open, 0o777);
    const warnings: string[] = [];
    const logger = { warn: (text: string) => warnings.push(text) } as unknown as ConstructorParameters<typeof RelayServer>[0]["logger"];
    servers.push(new RelayServer({ dataDir: open, logger }));
    expect(statSync(open).mode & 0o777).toBe(0o700);
    expect(warnings).toEqual([expect.stringMatching(/relay dataDir .* was open to others \(mode 777\); made it owner-only \(700\)/)]);

    if (process.getuid?.() !== 0) return; // only root can give a directory away
    const theirs = dataDir();
    mkdirSync(theirs, { recursive: true, mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(() => new RelayServer({ dataDir: theirs })).toThrow(/relay dataDir .* belongs to uid 65534, not to this user/);
  });
});
