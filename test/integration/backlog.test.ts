import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// A backlog of big messages must not block the control channel: the relay
// answers a poll with a few MB at most, and the daemon, when an answer is
// too big to take, asks for fewer messages instead of the same again.

let home: TestHome;
let tmux: TestTmux;
const daemons: TestDaemon[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.terminate("SIGKILL");
  for (const c of cleanups.splice(0)) await c();
  tmux.kill();
  home.remove();
});

function daemon(relayUrl: string, token?: string): TestDaemon {
  const d = new TestDaemon(home, tmux, { relayUrl, ...(token ? { token } : {}) }).start();
  daemons.push(d);
  return d;
}

const spawnControl = (label: string) => ({ action: "spawn", provider: "codex", label, cwd: home.project });

describe("a backlog of big messages", () => {
  it("20 queued 1 MB messages, then a spawn: the spawn runs (our relay)", async () => {
    const token = "backlog-test-token-0123456789";
    const dir = mkdtempSync(join(tmpdir(), "aro-backlog-"));
    const server = new RelayServer({ dataDir: join(dir, "data"), port: 0, token });
    await server.listen();
    cleanups.push(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const post = async (message: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/api/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Agent-Relay-Token": token },
        body: JSON.stringify(message),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: number }).id;
    };
    const big = "x".repeat(1_000_000); // as large as the relay takes (1 MiB bodies)
    for (let i = 0; i < 20; i++) await post({ to: "orchestrator-box", kind: "chat", body: big });
    const id = await post({ to: "orchestrator-box", kind: "control", payload: { orchestratorControl: spawnControl("after-backlog") } });
    // queued while no daemon was polling: the first poll finds all 21 (some 20 MB)
    daemon(server.url, token);

    const result = (await waitFor("the spawn's answer", () => server.store.result(id), 60_000)) as Record<string, unknown>;
    expect(result).toMatchObject({ ok: true, action: "spawn" });
    expect(tmux.sessions()).toEqual(["ar-codex-after-backlog"]);
  });

  it("after an answer too big to take, the daemon asks for fewer messages, then for all again", async () => {
    const relay = await new TestRelay({ extensions: true }).start();
    cleanups.push(() => relay.stop());
    // the first poll's answer is over the daemon's 16 MiB bound
    relay.faults = [{ match: /^GET \/api\/messages$/, fault: { raw: `[${" ".repeat(17 * 1024 * 1024)}]`, times: 1 } }];
    const id = relay.sendControl("box", spawnControl("after-oversize"));
    daemon(relay.url);

    await waitFor("the spawn's answer", () => relay.results.get(id), 30_000);
    expect(relay.results.get(id)).toMatchObject({ ok: true, action: "spawn" });
    const polls = relay.requests.filter((r) => r.method === "GET" && r.path === "/api/messages").map((r) => r.query.get("limit"));
    expect(polls[0]).toBeNull(); // the first asks for everything
    expect(polls[1]).toBe("250"); // after the oversized answer, half
    await waitFor("polls back to the full count", () => relay.requests.filter((r) => r.method === "GET" && r.path === "/api/messages").at(-1)!.query.get("limit") === null);
  });
});
