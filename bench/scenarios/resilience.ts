/** Relay restarted → daemon registered and polling again; and how fast `--help` is. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { send } from "./control-latency.js";
import { BenchHost, CLI, QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";

/**
 * Our relay as a real process (`agent-relay-orchestrator relay`), killed
 * with SIGKILL and started again on the same port and data: from the moment
 * it listens again until the daemon has polled, taken a control and answered
 * it (the answer stored), not merely registered.
 */
export async function relayRestart(): Promise<Row[]> {
  const host = new BenchHost();
  const dataDir = join(host.root, "relay");
  const token = randomBytes(24).toString("base64url");
  let relay = await startRelay(host, dataDir, token, 0);
  try {
    host.daemon("rr", relay.url, {}, { AGENT_RELAY_TOKEN: token });
    await until("registration", async () => (await api(relay.url, token, "GET", "/orchestrators/rr")).status === 200, 30_000);
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 3 : 6); i++) {
      relay.child.kill("SIGKILL");
      await new Promise((resolve) => relay.child.once("exit", resolve));
      await sleep(1_000 + Math.random() * 2_000);
      relay = await startRelay(host, dataDir, token, relay.port);
      const listening = Date.now();
      const id = await send(relay.url, "rr", { action: "bench-ping" }, token);
      await until("the daemon's answer", async () => (await api(relay.url, token, "GET", `/messages/${id}/result`)).status === 200, 30_000, 5);
      samples.push(Date.now() - listening);
    }
    const worst = Math.max(...samples);
    const scenario = "relay process killed and restarted → a control answered";
    return [
      { scenario, figure: "p50 after it listens", value: ms(percentile(samples, 50)), target: "≤ 2000 ms", met: percentile(samples, 50) <= 2000 },
      { scenario, figure: "worst", value: ms(worst), target: "≤ 2000 ms", met: worst <= 2000 },
    ];
  } finally {
    relay.child.kill("SIGKILL");
    await host.close();
  }
}

async function startRelay(host: BenchHost, dataDir: string, token: string, port: number): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = spawn(process.execPath, [CLI, "relay", "--port", String(port), "--data-dir", dataDir], {
    env: { PATH: process.env.PATH, HOME: host.home, AGENT_RELAY_TOKEN: token, AGENT_RELAY_ORCHESTRATOR_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const url = (await until("the relay to listen", () => out.match(/^relay (http:\/\/\S+)$/m)?.[1], 30_000, 5)) as string;
  return { child, url, port: Number(new URL(url).port) };
}

async function api(url: string, token: string, method: string, path: string): Promise<{ status: number }> {
  try {
    const res = await fetch(`${url}/api${path}`, { method, headers: { "X-Agent-Relay-Token": token } });
    await res.arrayBuffer();
    return { status: res.status };
  } catch {
    return { status: 0 };
  }
}

export async function help(): Promise<Row[]> {
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [CLI, "--help"], { stdio: "ignore" });
    samples.push(performance.now() - t0);
  }
  const p50 = percentile(samples, 50);
  return [{ scenario: "agent-relay-orchestrator --help", figure: "wall time (median of 10)", value: ms(p50), target: "≤ 250 ms", met: p50 <= 250 }];
}
