/**
 * `npm run bench [-- --quick] [-- name …]`: runs the benchmark scenarios
 * against the real daemon (built CLI), real tmux, a real relay and the fake
 * agent CLIs, and prints one table. Figures, not pass/fail: nothing exits
 * non-zero because a target was missed.
 */
import { cpus, totalmem } from "node:os";
import { execFileSync } from "node:child_process";
import { longPoll, polling } from "./scenarios/control-latency.js";
import { burst, ready } from "./scenarios/startup.js";
import { exit, idle } from "./scenarios/hundred.js";
import { help, relayRestart } from "./scenarios/resilience.js";
import { scale } from "./scenarios/scale.js";
import { backlog } from "./scenarios/backlog.js";
import type { Row } from "./lib.js";

const scenarios: Record<string, () => Promise<Row[]>> = { longPoll, polling, ready, burst, exit, relayRestart, idle, help, scale, backlog };
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
const tmux = execFileSync("tmux", ["-V"], { encoding: "utf8" }).trim();
process.stdout.write(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${tmux}\n\n`);
process.stdout.write(`${line(table[0]!)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n`);
for (const row of table.slice(1)) process.stdout.write(`${line(row)}\n`);
process.exit(0);
