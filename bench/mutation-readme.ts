/**
 * `npm run mutate:readme [-- reports/mutation/<file>.json]`: turns the JSON
 * report of `npm run mutate` into a committed summary
 * (`bench/results/mutation/<date>-<commit>.json`: per file its score and
 * counts, and every surviving mutant of the exactly-once and control path
 * with the reason it survives, from `bench/mutation-survivors.ts`), and
 * prints the README's table; with `--summary <file>` it prints the table
 * of a committed summary instead. Where README.md has the `mutation:table`
 * markers, the table is written between them. The figures are never typed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { ROOT } from "./lib.js";
import { KEY_FILES, SURVIVORS } from "./mutation-survivors.js";

/** The parts of Stryker's mutation-testing-report-schema read here. */
interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
  framework?: { name: string; version: string };
}
interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: "Killed" | "Survived" | "NoCoverage" | "Timeout" | "CompileError" | "RuntimeError" | "Ignored" | "Pending";
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}

/** One file's figures. Score: (killed + timeout) / (killed + timeout + survived + no coverage), as Stryker's. */
export interface FileFigures {
  file: string;
  mutants: number;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  /** Runtime and compile errors: invalid mutants, not counted in the score. */
  errors: number;
  score: number;
}

export interface Survivor {
  file: string;
  line: number;
  mutator: string;
  original: string;
  replacement: string;
  status: "Survived" | "NoCoverage";
  reason?: string;
}

interface Summary {
  date: string;
  commit: string;
  dirty: boolean;
  command: string;
  node: string;
  stryker: string;
  files: FileFigures[];
  total: FileFigures;
  survivors: Survivor[];
}

const args = process.argv.slice(2);
const summaryArg = args.indexOf("--summary");
const summary = summaryArg >= 0 ? explained(JSON.parse(readFileSync(resolve(args[summaryArg + 1]!), "utf8")) as Summary) : summarize();
process.stdout.write(table(summary) + "\n");
if (summaryArg >= 0) writeReadme(table(summary));

/** A committed summary's survivors, each with its reason from \`bench/mutation-survivors.ts\` (written after the run, or since). */
function explained(s: Summary): Summary {
  return { ...s, survivors: s.survivors.map((v) => ({ ...v, ...(v.reason ? {} : reasonFor(v)) })) };
}

function reasonFor(v: Omit<Survivor, "reason">): { reason?: string } {
  const reason = SURVIVORS.find((s) => s.file === v.file && s.mutator === v.mutator && s.original === v.original && s.replacement === v.replacement)?.reason;
  return reason ? { reason } : {};
}

function summarize(): Summary {
  const reportFile = resolve(args.find((a) => a.endsWith(".json")) ?? join(ROOT, "reports", "mutation", "mutation.json"));
  const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
  const files: FileFigures[] = [];
  const survivors: Survivor[] = [];
  for (const [path, { source, mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
    const file = relative(ROOT, resolve(ROOT, path));
    // The summary names a commit: the report must be of that commit's code, not of an edit since.
    if (readFileSync(join(ROOT, file), "utf8") !== source) throw new Error(`${reportFile} is of another version of ${file}: run npm run mutate again`);
    files.push(figures(file, mutants));
    if (!KEY_FILES.includes(file)) continue;
    const lines = source.split("\n");
    for (const m of mutants.filter((m) => m.status === "Survived" || m.status === "NoCoverage")) {
      const survivor: Survivor = {
        file,
        line: m.location.start.line,
        mutator: m.mutatorName,
        original: snippet(lines, m.location),
        replacement: oneLine(m.replacement ?? ""),
        status: m.status as Survivor["status"],
      };
      const reason = SURVIVORS.find((s) => s.file === file && s.mutator === survivor.mutator && s.original === survivor.original && s.replacement === survivor.replacement)?.reason;
      survivors.push(reason ? { ...survivor, reason } : survivor);
    }
  }
  const commit = git(["rev-parse", "--short", "HEAD"]) ?? "unknown";
  const dirty = (git(["status", "--porcelain", "--", "core", "test", "stryker.config.mjs", "vitest.unit.config.ts"]) ?? "") !== "";
  const date = new Date().toISOString();
  const stryker = (JSON.parse(readFileSync(join(ROOT, "node_modules", "@stryker-mutator", "core", "package.json"), "utf8")) as { version: string }).version;
  const all = files.reduce((sum, f) => ({
    ...sum,
    mutants: sum.mutants + f.mutants,
    killed: sum.killed + f.killed,
    timeout: sum.timeout + f.timeout,
    survived: sum.survived + f.survived,
    noCoverage: sum.noCoverage + f.noCoverage,
    errors: sum.errors + f.errors,
  }));
  const total = { ...all, file: "all files", score: score(all) };
  const result: Summary = { date, commit, dirty, command: "npm run mutate", node: process.version, stryker, files, total, survivors };
  const out = join(ROOT, "bench", "results", "mutation", `${date.slice(0, 10)}-${commit}${dirty ? "-dirty" : ""}.json`);
  mkdirSync(join(out, ".."), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  process.stderr.write(`summary: ${relative(ROOT, out)}\n`);
  const unexplained = survivors.filter((s) => !s.reason);
  if (unexplained.length > 0) process.stderr.write(`${unexplained.length} surviving mutant(s) of ${KEY_FILES.join(", ")} have no reason in bench/mutation-survivors.ts\n`);
  writeReadme(table(result));
  return result;
}

function figures(file: string, mutants: Mutant[]): FileFigures {
  const count = (...statuses: Mutant["status"][]) => mutants.filter((m) => statuses.includes(m.status)).length;
  const f = {
    file,
    mutants: mutants.length,
    killed: count("Killed"),
    timeout: count("Timeout"),
    survived: count("Survived"),
    noCoverage: count("NoCoverage"),
    errors: count("CompileError", "RuntimeError"),
  };
  return { ...f, score: score(f) };
}

function score(f: Omit<FileFigures, "file" | "score">): number {
  const valid = f.killed + f.timeout + f.survived + f.noCoverage;
  return valid === 0 ? 100 : Math.round(((f.killed + f.timeout) / valid) * 1000) / 10;
}

function table(s: Summary): string {
  const row = (f: FileFigures, key: boolean) =>
    `| ${key ? `**${f.file}**` : f.file} | ${f.score.toFixed(1)} % | ${f.killed} | ${f.timeout} | ${f.survived} | ${f.noCoverage} | ${f.errors} |`;
  const survivors = s.survivors.map((v) => `| ${v.file}:${v.line} | ${v.mutator} | \`${cell(v.original)}\` → \`${cell(v.replacement)}\` | ${v.reason ?? "**not explained**"} |`);
  return [
    `Generated by \`npm run mutate:readme\` from \`${s.command}\` (Stryker ${s.stryker}, the unit tests in test/unit, Node ${s.node}) on ${s.date.slice(0, 10)},`,
    `commit ${s.commit}${s.dirty ? " (with uncommitted changes)" : ""}; summary in \`bench/results/mutation/${s.date.slice(0, 10)}-${s.commit}${s.dirty ? "-dirty" : ""}.json\`.`,
    `Score: killed and timed-out mutants over all valid ones. In bold, the exactly-once and control path (target 80 %).`,
    "",
    "| file | score | killed | timeout | survived | no coverage | invalid |",
    "|---|---|---|---|---|---|---|",
    ...s.files.map((f) => row(f, KEY_FILES.includes(f.file))),
    row(s.total, false),
    ...(survivors.length > 0
      ? ["", "Surviving mutants of the exactly-once and control path, and why they survive:", "", "| where | mutator | mutation | why it survives |", "|---|---|---|---|", ...survivors]
      : []),
  ].join("\n");
}

function writeReadme(text: string): void {
  const readme = join(ROOT, "README.md");
  const content = readFileSync(readme, "utf8");
  const start = "<!-- mutation:table:start -->";
  const end = "<!-- mutation:table:end -->";
  if (!content.includes(start) || !content.includes(end)) {
    process.stderr.write(`README.md has no ${start} … ${end} markers: the table is printed only\n`);
    return;
  }
  writeFileSync(readme, content.slice(0, content.indexOf(start) + start.length) + "\n" + text + "\n" + content.slice(content.indexOf(end)));
  process.stderr.write("README.md: mutation table written\n");
}

function snippet(lines: string[], { start, end }: Mutant["location"]): string {
  const text = start.line === end.line ? lines[start.line - 1]!.slice(start.column - 1, end.column - 1) : [lines[start.line - 1]!.slice(start.column - 1), "…"].join("");
  return oneLine(text);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 70 ? `${flat.slice(0, 67)}…` : flat;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/`/g, "'");
}

function git(gitArgs: string[]): string | undefined {
  try {
    return execFileSync("git", gitArgs, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}
