/** With 100 agents running: exit → reported exited, and the cost of an idle daemon. */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { BenchHost, FAKE_BIN, QUICK, agentPid, ms, percentile, sleep, until, usage, type Row } from "../lib.js";
import { send } from "./control-latency.js";

/** A relay and one daemon running 100 idle fake claudes, which write their events to `transcript`. */
export async function hundred(tmuxLog?: string) {
  const host = new BenchHost();
  const server = new RelayServer({ dataDir: join(host.root, "relay"), port: 0 });
  await server.listen();
  const transcript = join(host.root, "transcript.jsonl");
  const daemon = host.daemon(
    "h",
    server.url,
    { env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: transcript }, ...(tmuxLog ? { tmux: { bin: join(FAKE_BIN, "counting-tmux") } } : {}) },
    tmuxLog ? { TMUX_CALL_LOG: tmuxLog } : {},
  );
  await until("registration", () => server.store.host("h"));
  const ids: number[] = [];
  for (let i = 0; i < 100; i++) ids.push(await send(server.url, "h", { action: "spawn", label: `a${i}` }));
  await until("100 agents ready", () => ids.every((id) => server.store.result(id)), 120_000, 20);
  const close = async () => {
    await host.close();
    await server.close();
  };
  return { host, server, daemon, transcript, close };
}

export async function exit(): Promise<Row[]> {
  const { server, close } = await hundred();
  try {
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 8 : 20); i++) {
      const session = `ar-claude-a${i}`;
      const report = server.store.host("h")!.agents.find((a) => a.tmuxSession === session) as { pid: number };
      const pid = agentPid(report.pid);
      if (!pid) throw new Error(`bench: no agent process under ${session}`);
      const t0 = performance.now();
      process.kill(pid, "SIGKILL");
      await until(`${session} exited`, () => server.store.host("h")!.agents.some((a) => a.tmuxSession === session && a.status === "exited"));
      samples.push(performance.now() - t0);
      await sleep(100);
    }
    const p50 = percentile(samples, 50);
    const p95 = percentile(samples, 95);
    return [
      { scenario: "agent exit → reported exited (100 agents)", figure: "p50", value: ms(p50), target: "≤ 300 ms", met: p50 <= 300 },
      { scenario: "agent exit → reported exited (100 agents)", figure: "p95", value: ms(p95), target: "≤ 1000 ms", met: p95 <= 1000 },
    ];
  } finally {
    await close();
  }
}

export async function idle(): Promise<Row[]> {
  const log = join("/tmp", `aro-bench-tmux-${process.pid}.log`);
  const { daemon, close } = await hundred(log);
  const windowMs = QUICK ? 15_000 : 60_000;
  try {
    await sleep(2_000); // let start-up settle
    rmSync(log, { force: true });
    const before = usage(daemon.pid!);
    await sleep(windowMs);
    const after = usage(daemon.pid!);
    let calls = 0;
    try {
      calls = readFileSync(log, "utf8").trim().split("\n").filter(Boolean).length;
    } catch {
      calls = 0;
    }
    const perMinute = (calls * 60_000) / windowMs;
    const cpu = ((after.cpuMs - before.cpuMs) / windowMs) * 100;
    const rssMb = after.rssKb / 1024;
    const label = `idle daemon, 100 agents, ${windowMs / 1000} s`;
    return [
      { scenario: label, figure: "RSS", value: `${rssMb.toFixed(0)} MB`, target: "≤ 80 MB", met: rssMb <= 80 },
      { scenario: label, figure: "CPU", value: `${cpu.toFixed(2)} % of a core`, target: "≤ 1 %", met: cpu <= 1 },
      { scenario: label, figure: "processes spawned / min", value: perMinute.toFixed(0), target: "≤ 60", met: perMinute <= 60 },
    ];
  } finally {
    rmSync(log, { force: true });
    await close();
  }
}
