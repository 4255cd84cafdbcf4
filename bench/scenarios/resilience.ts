/** Relay restarted → daemon registered and polling again; and how fast `--help` is. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { BenchHost, CLI, QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";

export async function relayRestart(): Promise<Row[]> {
  const host = new BenchHost();
  const dataDir = join(host.root, "relay");
  let server = new RelayServer({ dataDir, port: 0 });
  try {
    await server.listen();
    const port = Number(new URL(server.url).port);
    host.daemon("rr", server.url);
    await until("registration", () => server.store.host("rr"));
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 3 : 6); i++) {
      await server.close();
      await sleep(1_000 + Math.random() * 2_000);
      server = new RelayServer({ dataDir, port });
      await server.listen();
      const healthy = Date.now();
      await until("registered again", () => (server.store.host("rr")?.registeredAt ?? 0) >= healthy, 30_000, 5);
      samples.push(Date.now() - healthy);
    }
    const worst = Math.max(...samples);
    return [
      { scenario: "relay restarted → registered and polling", figure: "p50 after healthy", value: ms(percentile(samples, 50)), target: "≤ 2000 ms", met: percentile(samples, 50) <= 2000 },
      { scenario: "relay restarted → registered and polling", figure: "worst", value: ms(worst), target: "≤ 2000 ms", met: worst <= 2000 },
    ];
  } finally {
    await host.close();
    await server.close();
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
