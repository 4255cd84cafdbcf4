/** Control → agent ready (fake claude with both dialogs and a 300 ms start), and a burst of 50 spawns. */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { BenchHost, QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";
import { send } from "./control-latency.js";

export async function ready(): Promise<Row[]> {
  const host = new BenchHost({ trustClaude: false });
  const server = new RelayServer({ dataDir: join(host.root, "relay"), port: 0 });
  try {
    await server.listen();
    host.daemon("ready", server.url, { claude: { suppressDialogs: false }, env: { IS_SANDBOX: "1", FAKE_CLAUDE_START_DELAY_MS: "300" } });
    await until("registration", () => server.store.host("ready"));
    await sleep(300);
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 5 : 15); i++) {
      const t0 = performance.now();
      const id = await send(server.url, "ready", { action: "spawn", label: `r${i}`, prompt: "go" });
      const result = (await until(`ready r${i}`, () => server.store.result(id))) as { ok: boolean; error?: string };
      if (!result.ok) throw new Error(`bench: spawn failed: ${result.error}`);
      samples.push(performance.now() - t0);
    }
    const p50 = percentile(samples, 50);
    return [{ scenario: "control → ready (both dialogs, 300 ms start)", figure: "p50", value: ms(p50), target: "≤ 600 ms", met: p50 <= 600 }];
  } finally {
    await host.close();
    await server.close();
  }
}

export async function burst(): Promise<Row[]> {
  const host = new BenchHost();
  const server = new RelayServer({ dataDir: join(host.root, "relay"), port: 0 });
  try {
    await server.listen();
    host.daemon("burst", server.url);
    await until("registration", () => server.store.host("burst"));
    await sleep(300);
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => send(server.url, "burst", { action: "spawn", label: `b${i}` })));
    await until("all 50 ready", () => ids.every((id) => server.store.result(id)), 60_000, 10);
    const wall = performance.now() - t0;
    const failed = ids.filter((id) => !(server.store.result(id) as { ok: boolean }).ok).length;
    const sessions = host.tmux("burst", "list-sessions", "-F", "#{session_name}").trim().split("\n");
    const duplicates = sessions.length - new Set(sessions).size + Math.max(0, sessions.length - 50);
    return [
      { scenario: "burst: 50 spawns → all ready", figure: "wall time", value: `${ms(wall)}${failed ? ` (${failed} failed)` : ""}`, target: "≤ 3000 ms", met: wall <= 3000 && failed === 0 },
      { scenario: "burst: 50 spawns → all ready", figure: "duplicate sessions", value: String(duplicates), target: "0", met: duplicates === 0 },
    ];
  } finally {
    await host.close();
    await server.close();
  }
}
