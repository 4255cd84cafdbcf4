import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { TestDaemon } from "../support/daemon.js";
import { CLI, TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// One daemon per id: a second one on the same host (same state folder) leaves
// at once naming the first; one on another host (another state folder) is
// refused by our relay and leaves; a daemon killed with -9 is replaced.

let home: TestHome;
let tmux: TestTmux;
const daemons: TestDaemon[] = [];
const servers: RelayServer[] = [];
const ups: TestUp[] = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.terminate("SIGKILL");
  for (const s of servers.splice(0)) await s.close();
  for (const u of ups.splice(0)) await u.stop();
  tmux.kill();
  home.remove();
});

function daemon(relayUrl: string, env: Record<string, string> = {}): TestDaemon {
  const d = new TestDaemon(home, tmux, { relayUrl, env }).start();
  daemons.push(d);
  return d;
}

async function ourRelay(): Promise<RelayServer> {
  const server = new RelayServer({ dataDir: join(home.root, "relay-data"), port: 0 });
  servers.push(server);
  await server.listen();
  return server;
}

const starts = () =>
  existsSync(home.transcript) ? readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event: string }).filter((e) => e.event === "start") : [];

describe("one daemon per id", () => {
  it("a second daemon with the same id and state folder exits at once naming the first one's pid; controls are answered once", async () => {
    const relay = await new TestRelay({ extensions: true }).start();
    try {
      const first = daemon(relay.url);
      await first.waitForLog(/registered as box/);
      const second = daemon(relay.url);
      expect(await second.waitForExit()).toBe(1);
      expect(second.logs.join("\n")).toMatch(new RegExp(`another daemon with id "box" is running on this host \\(pid ${first.pid}; lock `));
      const id = relay.sendControl("box", { action: "spawn", label: "one" });
      await waitFor("the answer", () => relay.results.get(id), 15_000);
      expect(relay.results.get(id)).toMatchObject({ ok: true });
      expect(relay.answerCounts.get(id)).toBe(1);
      expect(starts()).toHaveLength(1);
      expect(relay.requests.filter((r) => r.method === "POST" && r.path === "/api/orchestrators")).toHaveLength(1);
    } finally {
      await relay.stop();
    }
  });

  it("a daemon with the same id on another host is refused by our relay and exits; the first keeps its id", async () => {
    const relay = await ourRelay();
    const first = daemon(relay.url);
    await first.waitForLog(/registered as box/);
    const firstInstance = (relay.store.host("box")!.registration.meta as { instanceId: string }).instanceId;
    const other = daemon(relay.url, { AGENT_RELAY_ORCHESTRATOR_STATE_DIR: join(home.root, "other-host-state") });
    expect(await other.waitForExit()).toBe(1);
    expect(other.logs.join("\n")).toMatch(/the relay refused this daemon: .*HTTP 409.*orchestrator box is already running \(.*pid \d+/);
    expect(other.logs.some((l) => /registered as box/.test(l))).toBe(false);
    expect((relay.store.host("box")!.registration.meta as { instanceId: string }).instanceId).toBe(firstInstance);
  });

  it("a daemon killed with -9 and started again takes over: the stale lock, and the relay accepts the new instance", async () => {
    const relay = await ourRelay();
    const first = daemon(relay.url);
    await first.waitForLog(/registered as box/);
    const firstInstance = (relay.store.host("box")!.registration.meta as { instanceId: string }).instanceId;
    await first.kill9();
    expect(existsSync(join(home.stateDir, "box.lock"))).toBe(true);
    const second = daemon(relay.url);
    await second.waitForLog(/registered as box/);
    const meta = relay.store.host("box")!.registration.meta as { instanceId: string; previousInstanceId: string; pid: number };
    expect(meta).toMatchObject({ previousInstanceId: firstInstance, pid: second.pid });
    expect(meta.instanceId).not.toBe(firstInstance);
    expect(JSON.parse(readFileSync(join(home.stateDir, "box.lock"), "utf8"))).toMatchObject({ pid: second.pid });
    // and a clean stop frees the lock for the next one, which the relay accepts too
    expect(await second.terminate()).toBe(0);
    const third = daemon(relay.url);
    await third.waitForLog(/registered as box/);
  });

  it("`up` takes the same lock: a second `up` with the same id and state folder exits at once naming the first", async () => {
    const first = await new TestUp(home, tmux).start();
    ups.push(first);
    const firstPid = (JSON.parse(readFileSync(join(home.stateDir, "box.lock"), "utf8")) as { pid: number }).pid;
    const second = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, "up", "--port", "0", "--data-dir", join(home.root, "relay-data-2")], { cwd: home.root, env: first.env(), timeout: 20_000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stderr }),
      );
    });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`another daemon with id "box" is running on this host \\(pid ${firstPid}; lock `));
  });
});
