import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LeftoverProcess, Logger } from "../../core/index.js";

/*
 * Finding and ending every process of one agent (Linux /proc). An agent is
 * known three ways: its process group (the pane's, while the pane lives), its
 * cgroup (where the host lets us make one), and the nonce in its environment,
 * which every process it starts inherits, a `setsid` escapee too. Only
 * processes of our uid found one of these ways are ever signalled.
 */

/** The env marker every process of an agent inherits: a nonce made anew for each start. */
export const NONCE_VAR = "AGENT_RELAY_NONCE";
/** Set beside the nonce, for people reading `/proc/<pid>/environ`. */
export const SESSION_VAR = "AGENT_RELAY_SESSION";

/** How to recognise one agent's processes. */
export interface AgentProcesses {
  /** The process group: the pane's pid, while the pane lives (tmux makes it a session and group leader). */
  pgid?: number;
  /** The value of `AGENT_RELAY_NONCE` in its processes' environment. */
  nonce?: string;
  /** The agent's own cgroup folder, where the host let us make one. */
  cgroup?: string;
  /** When its first process started (clock ticks since boot): its processes are no older. */
  since?: number;
}

interface ProcessInfo {
  pid: number;
  pgrp: number;
  name: string;
  /** When it started, in clock ticks since boot (/proc/<pid>/stat). */
  start: number;
  /** Its marker, read only when asked for (undefined: not read yet; null: none). */
  nonce?: string | null;
}

/**
 * Every live process of our uid, with its group; one walk of /proc serves
 * every caller within 40 ms (a hundred agents stopping at once do not each
 * walk it).
 */
let lastScan: { at: number; processes: ProcessInfo[] } | undefined;
function scan(): ProcessInfo[] {
  if (lastScan && Date.now() - lastScan.at < 40) return lastScan.processes;
  const uid = process.getuid?.();
  const processes: ProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (uid !== undefined && statSync(`/proc/${pid}`).uid !== uid) continue;
      const stat = readStat(pid);
      if (stat.state === "Z" || stat.state === "X") continue; // ended, waiting to be reaped: nothing left to kill
      processes.push({ pid, ...stat });
    } catch {
      // gone meanwhile, or not readable: not ours to touch
    }
  }
  lastScan = { at: Date.now(), processes };
  return processes;
}

function readStat(pid: number): { state: string; pgrp: number; name: string; start: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  return { state: fields[0]!, pgrp: Number(fields[2]), name: stat.slice(stat.indexOf("(") + 1, close), start: Number(fields[19]) };
}

/** When a process started, in clock ticks since boot; undefined when it is gone. */
export function startOf(pid: number): number | undefined {
  try {
    return readStat(pid).start;
  } catch {
    return undefined;
  }
}

function nonceOf(p: ProcessInfo): string | null {
  if (p.nonce === undefined) {
    try {
      p.nonce = envValue(readFileSync(`/proc/${p.pid}/environ`, "latin1"), NONCE_VAR) ?? null;
    } catch {
      p.nonce = null;
    }
  }
  return p.nonce;
}

/**
 * The agent's live processes: in its group, in its cgroup, or carrying its
 * marker. Only processes no older than the agent's first one (`since`) can
 * be its own: older ones' environments are not even read.
 */
export function findProcesses(agent: AgentProcesses): LeftoverProcess[] {
  const inCgroup = new Set<number>();
  if (agent.cgroup) {
    try {
      for (const line of readFileSync(join(agent.cgroup, "cgroup.procs"), "utf8").split("\n")) if (line) inCgroup.add(Number(line));
    } catch {
      // removed already
    }
  }
  const marked = (p: ProcessInfo) => agent.nonce !== undefined && (agent.since === undefined || p.start >= agent.since) && nonceOf(p) === agent.nonce;
  return scan()
    .filter((p) => (agent.pgid !== undefined && p.pgrp === agent.pgid) || inCgroup.has(p.pid) || marked(p))
    .map((p) => ({ pid: p.pid, name: p.name }));
}

/**
 * Ends every process of an agent: SIGTERM, up to `termWaitMs` for them to
 * go, then SIGKILL (again to any they forked meanwhile) for up to
 * `killWaitMs`. Answers what is still alive after that (nothing, normally).
 */
export async function endProcesses(agent: AgentProcesses, options: { termWaitMs: number; killWaitMs: number }): Promise<LeftoverProcess[]> {
  lastScan = undefined;
  let found = findProcesses(agent);
  if (found.length === 0) return [];
  signal(found, "SIGTERM");
  found = await until(agent, options.termWaitMs);
  if (found.length === 0) return [];
  signal(found, "SIGKILL");
  return until(agent, options.killWaitMs, (more) => signal(more, "SIGKILL"));
}

async function until(agent: AgentProcesses, ms: number, each?: (found: LeftoverProcess[]) => void): Promise<LeftoverProcess[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const found = findProcesses(agent);
    if (found.length === 0 || Date.now() >= deadline) return found;
    each?.(found);
  }
}

function signal(found: LeftoverProcess[], name: NodeJS.Signals): void {
  for (const { pid } of found) {
    try {
      process.kill(pid, name);
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Makes a cgroup for one agent under the daemon's own (cgroup v2, else the
 * v1 `pids` hierarchy) when the host lets us; undefined where it does not
 * (then the process group and the marker are all there is, which is enough).
 */
let saidNoCgroup = false;
export function makeCgroup(name: string, logger: Logger): string | undefined {
  const without = (why: string) => {
    if (!saidNoCgroup) logger.debug(`${why}: agents are tracked by process group and env marker only`);
    saidNoCgroup = true;
    return undefined;
  };
  let base: string | undefined;
  try {
    const lines = readFileSync("/proc/self/cgroup", "utf8").split("\n");
    const v2 = lines.find((l) => l.startsWith("0::"))?.slice(3);
    const v1 = lines.find((l) => l.split(":")[1]?.split(",").includes("pids"))?.split(":")[2];
    const v2Mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].find((m) => isFile(join(m, "cgroup.controllers")));
    if (v2 !== undefined && v2Mount) base = join(v2Mount, v2);
    else if (v1 !== undefined && isFile("/sys/fs/cgroup/pids/cgroup.procs")) base = join("/sys/fs/cgroup/pids", v1);
  } catch {
    base = undefined;
  }
  if (!base) return without("no cgroup hierarchy found");
  const dir = join(base, "agent-relay", name); // all in one folder: easy to find, never mixed with others'
  try {
    mkdirSync(join(base, "agent-relay"), { recursive: true });
    mkdirSync(dir);
    return dir;
  } catch (err) {
    return without(`cannot make a cgroup in ${base} (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** Removes an agent's (empty) cgroup; quiet when it is gone or still busy. */
export function removeCgroup(dir: string | undefined): void {
  if (!dir) return;
  try {
    rmdirSync(dir);
  } catch {
    // gone already, or a process is left (then it is reported)
  }
}

/** One variable's value in a NUL-separated environment block. */
function envValue(env: string, name: string): string | undefined {
  const key = `${name}=`;
  const at = env.startsWith(key) ? 0 : env.indexOf(`\0${key}`);
  if (at < 0) return undefined;
  const start = env.indexOf("=", at) + 1;
  const end = env.indexOf("\0", start);
  return env.slice(start, end < 0 ? undefined : end);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Where the backend keeps each running agent's nonce and cgroup, so a restarted daemon can still end all of it. */
export class ProcessRecords {
  constructor(private readonly dir: string) {}

  async save(session: string, record: { nonce: string; cgroup?: string; since?: number }): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.file(session), JSON.stringify(record), { mode: 0o600 });
  }

  /** The record of a session, or nothing (an agent started by an older version). */
  async load(session: string): Promise<{ nonce?: string; cgroup?: string; since?: number }> {
    try {
      const record = JSON.parse(await readFile(this.file(session), "utf8")) as { nonce?: unknown; cgroup?: unknown; since?: unknown };
      return {
        ...(typeof record.nonce === "string" ? { nonce: record.nonce } : {}),
        ...(typeof record.cgroup === "string" ? { cgroup: record.cgroup } : {}),
        ...(typeof record.since === "number" ? { since: record.since } : {}),
      };
    } catch {
      return {};
    }
  }

  async remove(session: string): Promise<void> {
    await rm(this.file(session), { force: true });
  }

  private file(session: string): string {
    return join(this.dir, `${session}.json`);
  }
}
