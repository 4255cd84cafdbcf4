import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { CLI, TestHome } from "../support/env.js";
import { RelayProcess } from "../support/relay-process.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// The real CLI against a real relay process and real daemons: slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const run = promisify(execFile);
let home: TestHome;
let relay: RelayProcess | undefined;
const daemons: TestDaemon[] = [];
const cleanup: Array<() => void> = [];

beforeEach(() => {
  home = new TestHome();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.kill9();
  await relay?.kill9();
  for (const c of cleanup.splice(0)) c();
  home.remove();
});

async function startRelay(config?: Record<string, unknown>): Promise<RelayProcess> {
  const env: Record<string, string> = {};
  if (config) {
    env.AGENT_RELAY_ORCHESTRATOR_CONFIG = join(home.root, "relay.config.json");
    writeFileSync(env.AGENT_RELAY_ORCHESTRATOR_CONFIG, JSON.stringify(config));
  }
  relay = await new RelayProcess(home, join(home.root, "relay"), env).start();
  return relay;
}

/** A daemon on a home and tmux server of its own, registered with the relay. */
async function daemon(id: string, file: Record<string, unknown> = {}): Promise<TestDaemon> {
  const h = new TestHome();
  const tmux = new TestTmux();
  cleanup.push(() => tmux.kill(), () => h.remove());
  const d = new TestDaemon(h, tmux, { relayUrl: relay!.url, id, token: relay!.token, file: { env: { IS_SANDBOX: "1" }, ...file } }).start();
  daemons.push(d);
  await d.waitForLog(new RegExp(`registered as ${id} `), 20_000);
  return d;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = home.env({ AGENT_RELAY_URL: relay!.url, AGENT_RELAY_TOKEN: relay!.token });
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: home.root, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const stateOf = async (id: string) => (await cli("ps")).stdout.match(new RegExp(`^${id}\\s+(online|offline)\\s`, "m"))?.[1];

describe("hosts that are gone look gone", () => {
  it("a host that died shows offline after about three missed heartbeats, and spawns go to the host that is left", async () => {
    await startRelay();
    const gone = await daemon("gone", { heartbeatIntervalMs: 1000 });
    await daemon("left", { heartbeatIntervalMs: 1000 });
    expect(await cli("spawn", "codex")).toMatchObject({ code: 1, stderr: "error: 2 online hosts offer codex (gone, left): name one with --host\n" });

    await gone.kill9();
    // three missed 1 s heartbeats, not a fixed 90 s (generous bound for a busy machine)
    await waitFor("gone to show offline", async () => (await stateOf("gone")) === "offline", 30_000, 500);
    expect(await stateOf("left")).toBe("online");
    expect((await cli("spawn", "codex", "--label", "after")).stdout).toMatch(/^left: spawned ar-codex-after\n/);
    expect(await cli("spawn", "codex", "--host", "gone")).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error: gone is offline \(last seen \d+s ago\): start its daemon, or pass --no-wait to queue the spawn for it\n$/),
    });
  });

  it("a daemon that stops cleanly is offline at once; hosts rm removes it, and an online host only with --force", async () => {
    await startRelay();
    const box = await daemon("box"); // 30 s heartbeats: the relay would wait 90 s to call it offline on its own
    await daemon("busy");
    expect(await cli("hosts", "rm", "box")).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: box is online \(last seen \d+s ago\): stop its daemon first, or pass --force\n$/) });

    expect(await box.terminate()).toBe(0);
    expect(await stateOf("box")).toBe("offline");
    const hosts = await cli("hosts");
    expect(hosts.stdout).toMatch(/^HOST\s+STATE\s+SEEN\s+PROVIDERS\s+AGENTS\s+VERSION\nbox\s+offline\s+\d+s ago\s+claude,codex\s+0\s+\S+\nbusy\s+online\s/);

    expect(await cli("hosts", "rm", "box")).toMatchObject({ code: 0, stdout: "removed host box\n" });
    expect(await stateOf("box")).toBeUndefined();
    expect(await cli("hosts", "rm", "box")).toMatchObject({ code: 1, stderr: 'error: no host "box" on this relay\n' });
    expect(await cli("hosts", "rm", "busy", "--force")).toMatchObject({ code: 0, stdout: "removed host busy\n" });
  });

  it("with a retention, the relay forgets hosts offline for longer than it", async () => {
    await startRelay({ relayServer: { forgetOfflineHostsAfterMs: 1000 } });
    const box = await daemon("box");
    await daemon("stays");
    await box.terminate();
    await waitFor("box to be forgotten", async () => !(await cli("hosts")).stdout.includes("box"), 20_000, 300);
    expect(await stateOf("stays")).toBe("online");
  });
});
