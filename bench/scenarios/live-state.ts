/**
 * Live state with 100 agents running: an agent's turn begins or ends →
 * the relay has its new state; and `send` to an idle agent → answered
 * delivered. The idle cost of watching them is the `idle` scenario's.
 */
import { existsSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { QUICK, ms, percentile, sleep, until, type Row } from "../lib.js";
import { send } from "./control-latency.js";
import { hundred } from "./hundred.js";

type Event = { t: number; event: string; text?: string };

/** What the fake claudes wrote, one object per event. */
function events(file: string): Event[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Event);
}

export async function stateReported(): Promise<Row[]> {
  const { host, server, transcript, close } = await hundred();
  try {
    const stateOf = (session: string) => (server.store.host("h")!.agents.find((a) => a.tmuxSession === session) as { state?: string } | undefined)?.state;
    await until("100 agents idle", () => server.store.host("h")!.agents.filter((a) => (a as { state?: string }).state === "idle").length === 100, 120_000, 50);
    const working: number[] = [];
    const idle: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 30); i++) {
      const session = `ar-claude-a${i}`;
      const text = `work:1000 turn ${i}`;
      // As a user typing in an attached terminal: text, a pause, Enter.
      host.tmux("h", "send-keys", "-t", `=${session}:`, "-l", text);
      await sleep(300);
      host.tmux("h", "send-keys", "-t", `=${session}:`, "Enter");
      // The turn began when claude took the Enter (its "prompt" event); it ended when it drew its answer ("answer").
      await until(`${session} working`, () => stateOf(session) === "working", 10_000, 2);
      const seenWorking = Date.now();
      await until(`${session} idle`, () => stateOf(session) === "idle", 10_000, 2);
      const seenIdle = Date.now();
      // claude tells its Stop hook before it draws the answer: the relay may know before the screen shows it (0 ms then).
      const turn = await until(`${session}'s answer event`, () => {
        const mine = events(transcript);
        const at = mine.findIndex((e) => e.event === "prompt" && e.text === text);
        const answer = at === -1 ? undefined : mine.slice(at).find((e) => e.event === "answer");
        return answer && { began: mine[at]!.t, ended: answer.t };
      }, 10_000, 20);
      working.push(Math.max(0, seenWorking - turn.began));
      idle.push(Math.max(0, seenIdle - turn.ended));
      await sleep(100);
    }
    const all = [...working, ...idle];
    const label = "state change → on the relay (100 agents)";
    return [
      { scenario: label, figure: "idle → working p50", value: ms(percentile(working, 50)), target: "", met: undefined },
      { scenario: label, figure: "working → idle p50", value: ms(percentile(idle, 50)), target: "", met: undefined },
      { scenario: label, figure: `p95 of both (${all.length} changes)`, value: ms(percentile(all, 95)), target: "≤ 300 ms", met: percentile(all, 95) <= 300 },
    ];
  } finally {
    await close();
  }
}

export async function sendDelivered(): Promise<Row[]> {
  const { server, close } = await hundred();
  try {
    const stateOf = (label: string) => (server.store.host("h")!.agents.find((a) => a.label === label) as { state?: string } | undefined)?.state;
    const samples: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 30); i++) {
      const label = `a${i}`;
      await until(`${label} idle`, () => stateOf(label) === "idle", 120_000, 20);
      const t0 = performance.now();
      const id = await send(server.url, "h", { action: "send", agentId: label, text: `follow-up ${i}` });
      const answer = (await until(`the answer to send ${id}`, () => server.store.result(id), 30_000, 2)) as { ok?: boolean; error?: string };
      if (!answer.ok) throw new Error(`bench: send to ${label} was not delivered: ${answer.error}`);
      samples.push(performance.now() - t0);
    }
    const label = "send → delivered to an idle agent (100 agents)";
    return [
      { scenario: label, figure: "p50", value: ms(percentile(samples, 50)), target: "", met: undefined },
      { scenario: label, figure: "p95", value: ms(percentile(samples, 95)), target: "", met: undefined },
    ];
  } finally {
    await close();
  }
}
