/** 20 daemons (own ids and tmux sockets) on one relay process, 10 agents each: the relay's control latency and memory. */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { BenchHost, CLI, QUICK, ROOT, ms, percentile, until, usage, type Row } from "../lib.js";
import { send } from "./control-latency.js";

export async function scale(): Promise<Row[]> {
  const host = new BenchHost();
  const daemons = QUICK ? 5 : 20;
  try {
    // The relay always runs with a token: here one given to it and to the daemons.
    const token = randomBytes(24).toString("base64url");
    const auth = { headers: { "X-Agent-Relay-Token": token } };
    const relay = host.track(spawn(process.execPath, [CLI, "relay", "--port", "0", "--data-dir", join(host.root, "relay")], { env: { ...process.env, HOME: host.home, AGENT_RELAY_TOKEN: token }, stdio: ["ignore", "pipe", "inherit"] }));
    let out = "";
    relay.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
    const url = await until("relay URL", () => out.match(/^relay (\S+)$/m)?.[1]);
    // Light agents: the example TUI provider running `sleep`; the daemons and the relay are what is measured.
    const sleeper = [join(ROOT, "examples", "tui-provider.ts"), { name: "sleeper", command: ["sleep", "86400"], ready: { all: [] } }];
    const ids = Array.from({ length: daemons }, (_, i) => `d${i}`);
    for (const id of ids) host.daemon(id, url, { providers: ["sleeper"], plugins: [sleeper] }, { AGENT_RELAY_TOKEN: token });
    await until("all registered", async () => ((await (await fetch(`${url}/api/orchestrators`, auth)).json()) as unknown[]).length === daemons, 60_000, 100);
    const spawns: number[] = [];
    for (const id of ids) for (let a = 0; a < 10; a++) spawns.push(await send(url, id, { action: "spawn", provider: "sleeper", label: `s${a}` }, token));
    await until("all agents ready", async () => {
      const hosts = (await (await fetch(`${url}/api/orchestrators`, auth)).json()) as Array<{ agents: Array<{ status?: string }> }>;
      return hosts.reduce((n, h) => n + h.agents.filter((a) => a.status === "ready").length, 0) === spawns.length;
    }, 120_000, 500);
    // A control that needs no agent work: its round trip is the relay's and the transport's.
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 20 : 60); i++) {
      const id = ids[i % ids.length]!;
      const t0 = performance.now();
      const m = await send(url, id, { action: "shutdown", agentId: `missing-${i}` }, token);
      const res = await fetch(`${url}/api/messages/${m}/result?wait=5000`, auth);
      if (res.status !== 200) throw new Error("bench: no answer");
      samples.push(performance.now() - t0);
    }
    const p95 = percentile(samples, 95);
    const rssMb = usage(relay.pid!).rssKb / 1024;
    const label = `${daemons} daemons × 10 agents on one relay`;
    return [
      { scenario: label, figure: "control round trip p95", value: ms(p95), target: "≤ 100 ms", met: p95 <= 100 },
      { scenario: label, figure: "relay RSS", value: `${rssMb.toFixed(0)} MB`, target: "≤ 150 MB", met: rssMb <= 150 },
    ];
  } finally {
    await host.close();
  }
}
