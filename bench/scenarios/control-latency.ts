/** Control → tmux session running, against a long-poll relay (ours) and a plain protocol-v2 relay (polling). */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { TestRelay } from "../../test/support/relay.js";
import { BenchHost, QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";

export async function longPoll(): Promise<Row[]> {
  const host = new BenchHost();
  const server = new RelayServer({ dataDir: join(host.root, "relay"), port: 0 });
  try {
    await server.listen();
    host.daemon("lat", server.url);
    await until("registration", () => server.store.host("lat"));
    await sleep(300);
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 30); i++) {
      const session = `ar-claude-l${i}`;
      const t0 = performance.now();
      await send(server.url, "lat", { action: "spawn", label: `l${i}` });
      await until(session, () => server.store.host("lat")?.agents.some((a) => a.tmuxSession === session));
      samples.push(performance.now() - t0);
      await sleep(50);
    }
    const p50 = percentile(samples, 50);
    const p95 = percentile(samples, 95);
    return [
      { scenario: "control → session running (long-poll)", figure: "p50", value: ms(p50), target: "≤ 50 ms", met: p50 <= 50 },
      { scenario: "control → session running (long-poll)", figure: "p95", value: ms(p95), target: "≤ 150 ms", met: p95 <= 150 },
    ];
  } finally {
    await host.close();
    await server.close();
  }
}

export async function polling(): Promise<Row[]> {
  const host = new BenchHost();
  const relay = await new TestRelay().start();
  const pollMs = 1000;
  try {
    host.daemon("poll", relay.url, { pollIntervalMs: pollMs });
    await until("registration", () => relay.orchestrators.get("poll"));
    const samples: number[] = [];
    const afterPoll: number[] = [];
    // The wait for the next poll is uniform over the interval, so the median needs many samples to settle.
    for (let i = 0; i < (QUICK ? 10 : 50); i++) {
      await sleep(Math.random() * pollMs); // controls arrive at any point of the interval
      const session = `ar-claude-p${i}`;
      const t0 = performance.now();
      const sentAt = Date.now();
      relay.sendControl("poll", { action: "spawn", label: `p${i}` });
      await until(session, () => relay.reported("poll").some((a) => a.tmuxSession === session));
      samples.push(performance.now() - t0);
      // the poll that picked it up: the first one after it was sent
      const poll = relay.requests.find((r) => r.method === "GET" && r.path === "/api/messages" && r.at >= sentAt);
      if (poll) afterPoll.push(Date.now() - poll.at);
    }
    const p50 = percentile(samples, 50);
    const target = pollMs / 2 + 50;
    const label = `control → session running (polling, ${pollMs} ms)`;
    return [
      { scenario: label, figure: `p50 (${samples.length} samples)`, value: ms(p50), target: `≤ ${target} ms`, met: p50 <= target },
      { scenario: label, figure: "p50 from the poll that picked it up", value: ms(percentile(afterPoll, 50)), target: "", met: undefined },
    ];
  } finally {
    await host.close();
    await relay.stop();
  }
}

export async function send(relayUrl: string, id: string, control: Record<string, unknown>, token?: string): Promise<number> {
  const res = await fetch(`${relayUrl}/api/messages`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { "X-Agent-Relay-Token": token } : {}) },
    body: JSON.stringify({ to: `orchestrator-${id}`, kind: "control", payload: { orchestratorControl: control } }),
  });
  return ((await res.json()) as { id: number }).id;
}
