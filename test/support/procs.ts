import { readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";

/** A live process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  pgrp: number;
  sid: number;
  env: Map<string, string>;
  cgroup: string;
}

/** Every live (not zombie) process whose environment has `name=value`: how a test finds what it started. */
export function processesWith(name: string, value: string): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = new Map<string, string>();
      for (const pair of readFileSync(`/proc/${entry}/environ`, "latin1").split("\0")) {
        const eq = pair.indexOf("=");
        if (eq > 0) env.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      if (env.get(name) !== value) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, , pgrp, sid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || state === "X") continue;
      found.push({ pid: Number(entry), pgrp: Number(pgrp), sid: Number(sid), env, cgroup: readFileSync(`/proc/${entry}/cgroup`, "utf8") });
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return found;
}

/** Test cleanup: SIGKILLs the processes carrying `name=value` (only those the test started). */
export function killProcessesWith(name: string, value: string): void {
  for (const { pid } of processesWith(name, value)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

/** Test cleanup: removes the (empty) cgroups the tmux backend made for a test's agents. */
export function removeAgentCgroups(stateDir: string): void {
  const dir = join(stateDir, "procs");
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return;
  }
  const deadline = Date.now() + 3_000;
  for (const file of files) {
    let cgroup: string | undefined;
    try {
      cgroup = (JSON.parse(readFileSync(join(dir, file), "utf8")) as { cgroup?: string }).cgroup;
    } catch {
      continue;
    }
    // Its processes may still be ending (a killed tmux server's agents): then it is busy a moment.
    while (cgroup) {
      try {
        rmdirSync(cgroup);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() > deadline) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  }
}
