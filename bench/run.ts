/**
 * `npm run bench [-- --quick] [-- name …]`: runs the benchmark scenarios
 * against the real daemon (built CLI), real tmux, a real relay and the fake
 * agent CLIs, prints one table and writes it with the machine's description
 * to bench/results/. Figures, not pass/fail: nothing exits non-zero because
 * a target was missed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, platform, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { execFileSync } from "node:child_process";
import { longPoll, polling } from "./scenarios/control-latency.js";
import { burst, ready } from "./scenarios/startup.js";
import { exit, idle } from "./scenarios/hundred.js";
import { help, relayRestart } from "./scenarios/resilience.js";
import { scale } from "./scenarios/scale.js";
import { backlog } from "./scenarios/backlog.js";
import { sendDelivered, stateReported } from "./scenarios/live-state.js";
import { ROOT, type Row } from "./lib.js";

const scenarios: Record<string, () => Promise<Row[]>> = { longPoll, polling, ready, burst, exit, relayRestart, idle, help, scale, backlog, stateReported, sendDelivered };
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const rows: Row[] = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (wanted.length && !wanted.includes(name)) continue;
  process.stderr.write(`bench: ${name}…\n`);
  try {
    rows.push(...(await run()));
  } catch (err) {
    rows.push({ scenario: name, figure: "error", value: (err as Error).message, target: "", met: false });
  }
}

const header = ["scenario", "figure", "value", "target", "met"];
const table = [header, ...rows.map((r) => [r.scenario, r.figure, r.value, r.target, r.met === undefined ? "" : r.met ? "yes" : "NO"])];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model ?? "cpu",
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  os: `${platform()} ${release()}`,
  node: process.version,
  tmux: execFileSync("tmux", ["-V"], { encoding: "utf8" }).trim(),
};
process.stdout.write(`\nmachine: ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.tmux}\n\n`);
process.stdout.write(`${line(table[0]!)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n`);
for (const row of table.slice(1)) process.stdout.write(`${line(row)}\n`);

// Every run leaves its figures in bench/results/, with what they were measured on; the README's
// table is generated from one such file (`npm run bench:readme`), never typed.
const commit = gitOutput(["rev-parse", "--short", "HEAD"]) ?? "unknown";
const dirty = (gitOutput(["status", "--porcelain", "--", "core", "plugins", "cli", "bench"]) ?? "") !== "";
const date = new Date().toISOString();
const file = join(ROOT, "bench", "results", `${date.slice(0, 10)}-${commit}${dirty ? "-dirty" : ""}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ date, commit, dirty, command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(), machine, rows }, null, 2) + "\n");
process.stdout.write(`\nresults: ${file}\n`);
process.exit(0);

function gitOutput(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}
