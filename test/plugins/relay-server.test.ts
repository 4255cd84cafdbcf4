import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { CLI } from "../support/env.js";
import { freePort } from "../support/net.js";
import { waitFor } from "../support/wait.js";

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

async function relay(options: Partial<ConstructorParameters<typeof RelayServer>[0]> = {}) {
  const server = new RelayServer({ dataDir: dataDir(), port: 0, ...options });
  servers.push(server);
  await server.listen();
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}/api${path}`, {
      method,
      headers: { "Content-Type": "application/json", ...headers },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
  };
  return { server, call };
}

const control = (to: string, action: Record<string, unknown>) => ({ to, kind: "control", payload: { orchestratorControl: action } });

describe("relay server: protocol v2", () => {
  it("serves every call of PROTOCOL.md", async () => {
    const { call } = await relay();
    expect((await call("POST", "/orchestrators/box/heartbeat")).status).toBe(404);
    const reg = await call("POST", "/orchestrators", { id: "box", hostname: "box.local", providers: ["claude"], baseDir: "/p", envKeys: [], version: "0.9.0", protocolVersion: 2, meta: { pid: 1 } });
    expect(reg).toEqual({ status: 200, body: { ok: true, id: "box", extensions: ["long-poll", "control-results", "host-offline"], epoch: expect.any(String) } });
    expect(await call("GET", "/messages/cursor")).toEqual({ status: 200, body: { latestId: 0 } });
    expect((await call("POST", "/orchestrators/box/heartbeat")).status).toBe(200);

    const sent = await call("POST", "/messages", control("orchestrator-box", { action: "spawn", label: "a" }));
    expect(sent.status).toBe(201);
    await call("POST", "/messages", { to: "orchestrator-other", kind: "chat", body: "hi" });
    const legacy = await call("POST", "/messages", { to: "orchestrator-box", kind: "control", meta: { orchestratorControl: { action: "shutdown" } } });
    expect((await call("GET", "/messages/cursor")).body).toEqual({ latestId: 3 });

    const list = await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true");
    expect(list.body.map((m: any) => m.id)).toEqual([sent.body.id, legacy.body.id]);
    expect(list.body[0]).toMatchObject({ id: 1, kind: "control", body: "", payload: { orchestratorControl: { action: "spawn", label: "a" } }, meta: {} });
    expect(typeof list.body[0].createdAt).toBe("number");
    expect((await call("GET", "/messages?for=orchestrator-box&sinceId=1&unread=true")).body.map((m: any) => m.id)).toEqual([3]);

    expect((await call("PATCH", "/messages/1", { readBy: "orchestrator-box" })).status).toBe(200);
    expect((await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true")).body.map((m: any) => m.id)).toEqual([3]);
    expect((await call("GET", "/messages?for=orchestrator-box&sinceId=0")).body.map((m: any) => m.id)).toEqual([1, 3]);
    expect((await call("PATCH", "/messages/99", { readBy: "orchestrator-box" })).status).toBe(404);

    const agents = [{ agentId: "", provider: "claude", tmuxSession: "ar-claude-a", cwd: "/p", label: "a", approvalMode: "guarded", startedAt: 1 }];
    expect((await call("PATCH", "/orchestrators/box/agents", { agents })).status).toBe(200);
    expect((await call("PATCH", "/orchestrators/nobody/agents", { agents })).status).toBe(404);

    // agents register themselves; orchestrators delete them
    const self = await call("POST", "/agents", { label: "a", tags: ["headless", "dashboard-spawned", "box"], meta: { cwd: "/p", provider: "claude" } });
    expect(self.status).toBe(201);
    expect((await call("GET", "/agents")).body).toEqual([self.body]);
    expect((await call("DELETE", `/agents/${self.body.id}`)).status).toBe(200);
    expect((await call("DELETE", `/agents/${self.body.id}`)).status).toBe(404);

    const hosts = (await call("GET", "/orchestrators")).body;
    expect(hosts).toEqual([expect.objectContaining({ id: "box", hostname: "box.local", online: true, agents, lastHeartbeat: expect.any(Number) })]);
  });

  it("marks a host offline when it has not been heard from", async () => {
    const { call } = await relay({ offlineAfterMs: 1000 });
    await call("POST", "/orchestrators", { id: "box" });
    expect((await call("GET", "/orchestrators/box")).body.online).toBe(true);
    await waitFor("the host to go offline", async () => (await call("GET", "/orchestrators/box")).body.online === false, 3000);
    await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true"); // a poll counts as a sign of life
    expect((await call("GET", "/orchestrators/box")).body.online).toBe(true);
  });

  it("answers a waiting long-poll as soon as a message arrives, and a waiting result request as soon as it is posted", async () => {
    const { call } = await relay();
    const poll = call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true&wait=20000");
    const other = call("GET", "/messages?for=orchestrator-elsewhere&sinceId=0&unread=true&wait=300");
    await new Promise((r) => setTimeout(r, 100));
    const postedAt = Date.now();
    const sent = await call("POST", "/messages", control("orchestrator-box", { action: "spawn" }));
    expect((await poll).body.map((m: any) => m.id)).toEqual([sent.body.id]);
    // woken by the message, not by the end of its 20 s wait (generous for a busy machine; the bench has the figure)
    expect(Date.now() - postedAt).toBeLessThan(5_000);
    expect((await other).body).toEqual([]);

    expect((await call("GET", `/messages/${sent.body.id}/result?wait=100`)).status).toBe(202);
    const waiting = call("GET", `/messages/${sent.body.id}/result?wait=20000`);
    await new Promise((r) => setTimeout(r, 100));
    const result = { ok: true, action: "spawn", message: "spawned", agents: [] };
    const answeredAt = Date.now();
    expect((await call("POST", `/messages/${sent.body.id}/result`, result)).status).toBe(200);
    expect(await waiting).toEqual({ status: 200, body: result });
    expect(Date.now() - answeredAt).toBeLessThan(5_000);
    expect((await call("GET", "/messages/999/result")).status).toBe(404);
  });

  it("requires the token on every route when one is set, and refuses bad bodies", async () => {
    const { call } = await relay({ token: "s3cret-token-0123456789" });
    expect((await call("GET", "/messages/cursor")).status).toBe(401);
    expect((await call("GET", "/messages/cursor", undefined, { "X-Agent-Relay-Token": "s3cret-token-0123456789-N" })).status).toBe(401);
    const auth = { "X-Agent-Relay-Token": "s3cret-token-0123456789" };
    expect((await call("GET", "/messages/cursor", undefined, auth)).status).toBe(200);
    expect((await call("POST", "/orchestrators", "{nope", auth)).status).toBe(400);
    expect((await call("POST", "/orchestrators", { id: "../etc" }, auth)).body.error).toBe("id: expected an orchestrator id");
    expect((await call("POST", "/messages", { to: "x", body: "y".repeat(2 * 1024 * 1024) }, auth)).status).toBe(413);
  });

  it("limits the rate of requests per client", async () => {
    const { call } = await relay({ rateLimit: { perSecond: 2, burst: 5 } });
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await call("GET", "/messages/cursor")).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    await new Promise((r) => setTimeout(r, 600));
    expect((await call("GET", "/messages/cursor")).status).toBe(200);
  });

  it("lets a host token act only as its own orchestrator", async () => {
    const { call, server } = await relay({ token: "admin-token-0123456789", hostTokens: { a: "host-a-token-0123456789", b: "host-b-token-0123456789" } });
    const as = (token: string) => ({ "X-Agent-Relay-Token": token });
    const A = as("host-a-token-0123456789");
    const admin = as("admin-token-0123456789");
    expect((await call("POST", "/orchestrators", { id: "a", hostname: "host-a" }, A)).status).toBe(200);
    expect((await call("POST", "/orchestrators", { id: "b" }, A)).status).toBe(403);
    expect((await call("POST", "/orchestrators", { id: "b", hostname: "host-b" }, as("host-b-token-0123456789"))).status).toBe(200);
    const toA = (await call("POST", "/messages", control("orchestrator-a", { action: "spawn" }), admin)).body.id;
    const toB = (await call("POST", "/messages", control("orchestrator-b", { action: "spawn" }), admin)).body.id;
    expect((await call("GET", "/messages?for=orchestrator-a&sinceId=0&unread=true", undefined, A)).body.map((m: any) => m.id)).toEqual([toA]);
    expect((await call("GET", "/messages?for=orchestrator-b&sinceId=0&unread=true", undefined, A)).status).toBe(403);
    expect((await call("PATCH", `/messages/${toB}`, { readBy: "orchestrator-b" }, A)).status).toBe(403);
    expect((await call("PATCH", `/messages/${toA}`, { readBy: "orchestrator-b" }, A)).status).toBe(403);
    expect((await call("PATCH", `/messages/${toA}`, { readBy: "orchestrator-a" }, A)).status).toBe(200);
    expect((await call("POST", `/messages/${toB}/result`, { ok: true }, A)).status).toBe(403);
    expect((await call("PATCH", "/orchestrators/b/agents", { agents: [] }, A)).status).toBe(403);
    expect((await call("POST", "/orchestrators/b/heartbeat", undefined, A)).status).toBe(403);
    expect((await call("POST", "/messages", control("orchestrator-b", { action: "shutdown" }), A)).status).toBe(403);
    await call("POST", "/agents", { id: "rec-b", tags: ["dashboard-spawned", "host-b"] }, admin);
    expect((await call("DELETE", "/agents/rec-b", undefined, A)).status).toBe(403);
    expect((await call("GET", "/messages/cursor", undefined, as("someone-else-0123456789"))).status).toBe(401);
    expect(server.store.message(toB)).toBeDefined();
  });

  it("refuses to listen beyond loopback without a token", () => {
    expect(() => new RelayServer({ dataDir: dataDir(), bind: "0.0.0.0" })).toThrow(/refusing to listen on 0\.0\.0\.0 without a token/);
  });

  it("loses no host, agent or unanswered message when killed with -9", async () => {
    const dir = dataDir();
    const port = await freePort();
    const start = () => {
      const child = spawn(process.execPath, [CLI, "relay", "--port", String(port), "--data-dir", dir], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HOME: dir } });
      const exited = new Promise((r) => child.on("exit", r));
      return { child, exited };
    };
    const base = `http://127.0.0.1:${port}/api`;
    // `relay` with no token configured makes its own, in the data dir
    const token = () => readFileSync(join(dir, "token"), "utf8").trim();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, { method, headers: { "Content-Type": "application/json", "X-Agent-Relay-Token": token() }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return (await res.json()) as any;
    };
    let relayProcess = start();
    await waitFor("the relay", () => existsSync(join(dir, "token")) && fetch(`${base}/health`, { headers: { "X-Agent-Relay-Token": token() } }).then((r) => r.ok), 10_000);
    await call("POST", "/orchestrators", { id: "box", hostname: "box.local" });
    await call("PATCH", "/orchestrators/box/agents", { agents: [{ agentId: "", provider: "claude", tmuxSession: "ar-claude-a", cwd: "/p", label: "a", approvalMode: "guarded", startedAt: 1 }] });
    await call("POST", "/agents", { id: "agent-1", label: "a" });
    const done = await call("POST", "/messages", control("orchestrator-box", { action: "spawn", label: "done" }));
    const pending = await call("POST", "/messages", control("orchestrator-box", { action: "spawn", label: "pending" }));
    await call("PATCH", `/messages/${done.id}`, { readBy: "orchestrator-box" });
    await call("POST", `/messages/${done.id}/result`, { ok: true, action: "spawn", message: "spawned", agents: [] });
    relayProcess.child.kill("SIGKILL");
    await relayProcess.exited;

    relayProcess = start();
    await waitFor("the relay again", () => fetch(`${base}/health`, { headers: { "X-Agent-Relay-Token": token() } }).then((r) => r.ok), 10_000);
    try {
      const [host] = await call("GET", "/orchestrators");
      expect(host).toMatchObject({ id: "box", hostname: "box.local", agents: [{ tmuxSession: "ar-claude-a", label: "a" }] });
      expect(await call("GET", "/agents")).toEqual([{ id: "agent-1", label: "a" }]);
      expect((await call("GET", "/messages?for=orchestrator-box&sinceId=0&unread=true")).map((m: any) => m.id)).toEqual([pending.id]);
      expect(await call("GET", `/messages/${done.id}/result`)).toMatchObject({ ok: true, message: "spawned" });
      expect(statSync(join(dir, "relay.db")).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, "relay.db-wal")).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      relayProcess.child.kill("SIGKILL");
      await relayProcess.exited;
    }
  });
});
