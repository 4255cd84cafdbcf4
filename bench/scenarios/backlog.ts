/** A backlog of trivial controls queued while the daemon was down: answered at the speed of the work (issue 11, point 7). */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { BenchHost, QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";
import { send } from "./control-latency.js";

export async function backlog(): Promise<Row[]> {
  const host = new BenchHost();
  const server = new RelayServer({ dataDir: join(host.root, "relay"), port: 0 });
  const count = QUICK ? 200 : 500;
  // Trivial: each names an agent that does not exist, so the answer is the whole work.
  const trivial = (i: number) => ({ action: "shutdown", agentId: `nobody-${i}` });
  try {
    await server.listen();
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(await send(server.url, "bl", trivial(i)));
    const t0 = performance.now();
    host.daemon("bl", server.url);
    await until("the first answer", () => server.store.result(ids[0]!) !== undefined, 30_000, 5);
    const first = performance.now();
    await until("every answer", () => ids.every((id) => server.store.result(id) !== undefined), 120_000, 20);
    const all = performance.now();
    // The same control alone, one at a time, once the backlog is done.
    const alone: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s0 = performance.now();
      const id = await send(server.url, "bl", trivial(count + i));
      await until("the answer", () => server.store.result(id) !== undefined, 30_000, 1);
      alone.push(performance.now() - s0);
      await sleep(20);
    }
    const span = all - first;
    const single = percentile(alone, 50);
    return [
      { scenario: `backlog of ${count} trivial controls`, figure: "daemon start → last answer", value: ms(all - t0), target: "", met: undefined },
      { scenario: `backlog of ${count} trivial controls`, figure: "first → last answer", value: ms(span), target: count === 500 ? "≤ 3600 ms" : "", met: count === 500 ? span <= 3_600 : undefined },
      { scenario: `backlog of ${count} trivial controls`, figure: "one such control alone (p50 of 20)", value: ms(single), target: "", met: undefined },
    ];
  } finally {
    await host.close();
    await server.close();
  }
}
