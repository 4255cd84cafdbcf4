/** Control → agent ready (fake claude with both dialogs and a 300 ms start), and a burst of 50 spawns. */
import { readFileSync } from "node:fs";
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
    const transcript = join(host.root, "transcript.jsonl");
    host.daemon("burst", server.url, { env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: transcript } });
    await until("registration", () => server.store.host("burst"));
    await sleep(300);
    const t0 = performance.now();
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => send(server.url, "burst", { action: "spawn", label: `b${i}` })));
    await until("all 50 ready", () => ids.every((id) => server.store.result(id)), 60_000, 10);
    const wall = performance.now() - t0;
    const failed = ids.filter((id) => !(server.store.result(id) as { ok: boolean }).ok).length;
    // Agent processes started per label, as the fake claude records them: more than one is a double start.
    const starts = new Map<string, number>();
    for (const line of readFileSync(transcript, "utf8").split("\n").filter(Boolean)) {
      const event = JSON.parse(line) as { event: string; env?: { AGENT_RELAY_LABEL?: string } };
      const label = event.env?.AGENT_RELAY_LABEL;
      if (event.event === "start" && label) starts.set(label, (starts.get(label) ?? 0) + 1);
    }
    const duplicates = [...starts.values()].reduce((sum, n) => sum + n - 1, 0);
    return [
      { scenario: "burst: 50 spawns → all ready", figure: "wall time", value: `${ms(wall)}${failed ? ` (${failed} failed)` : ""}`, target: "≤ 3000 ms", met: wall <= 3000 && failed === 0 },
      { scenario: "burst: 50 spawns → all ready", figure: "agents started twice (fake claude's own record)", value: `${duplicates} of ${starts.size}`, target: "0", met: duplicates === 0 && starts.size === 50 },
    ];
  } finally {
    await host.close();
    await server.close();
  }
}
