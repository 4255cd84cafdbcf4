import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Orchestrator, createLogger, definePlugin, resolveConfig } from "../../core/index.js";
import { relayHttpPlugin } from "../../plugins/relay-http/index.js";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { waitFor } from "../support/wait.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("onHeartbeat and onConnected", () => {
  it("a plugin's heartbeat fields reach our relay's view of the host (identity kept), and onConnected fires on each registration", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aro-heartbeat-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = new RelayServer({ dataDir: join(dir, "relay"), port: 0 });
    await server.listen();
    cleanups.push(() => server.close());
    const config = await resolveConfig(
      { id: "hb", relayUrl: server.url, baseDir: dir, stateDir: join(dir, "state"), heartbeatIntervalMs: 1000, logLevel: "silent" },
      { configFile: false, env: {} },
    );
    let beats = 0;
    let connected = 0;
    const gauge = definePlugin({
      name: "gauge",
      apply(ctx) {
        ctx.hooks.onHeartbeat.tap((info) => {
          if (info.kind === "heartbeat") info.meta.load = ++beats;
          else info.meta.gauge = "on";
        });
        ctx.hooks.onConnected.tap(() => void connected++);
      },
    });
    const core = await Orchestrator.create({ config, plugins: [relayHttpPlugin(), gauge], logger: createLogger({ level: "silent" }) });
    await core.start();
    cleanups.push(() => core.stop());

    const host = () => server.store.host("hb")?.registration.meta as Record<string, unknown> | undefined;
    await waitFor("a heartbeat's fields at the relay", () => typeof host()?.load === "number", 20_000);
    expect(host()).toMatchObject({ gauge: "on", instanceId: core.instanceId, pid: process.pid });
    expect(connected).toBe(1);
  }, 30_000);
});
