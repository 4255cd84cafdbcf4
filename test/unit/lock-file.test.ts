import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DaemonLock, DaemonRunningError } from "../../core/lock-file.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "aro-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lockFile = () => join(dir, "box.lock");

describe("the daemon lock", () => {
  it("refuses a second holder while the first lives, naming its pid; frees on release, keeping the instance id for the next", () => {
    const first = new DaemonLock(dir, "box", "one");
    first.acquire();
    const second = new DaemonLock(dir, "box", "two");
    expect(() => second.acquire()).toThrow(DaemonRunningError);
    expect(() => second.acquire()).toThrow(`another daemon with id "box" is running on this host (pid ${process.pid}; lock ${lockFile()})`);
    first.release();
    second.acquire();
    expect(second.previousInstanceId).toBe("one");
    expect(JSON.parse(readFileSync(lockFile(), "utf8"))).toMatchObject({ pid: process.pid, instanceId: "two" });
  });

  it("takes over a lock whose pid is dead, or alive but another process (a reused pid), and leaves nothing aside", async () => {
    const child = spawn("true");
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid!)));
    writeFileSync(lockFile(), JSON.stringify({ pid: deadPid, instanceId: "dead" }));
    const lock = new DaemonLock(dir, "box", "new");
    lock.acquire();
    expect(lock.previousInstanceId).toBe("dead");
    // our own live pid, but with another start time: the pid was reused by a process that is no daemon
    writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, startTime: "1", instanceId: "reused" }));
    const again = new DaemonLock(dir, "box", "newer");
    again.acquire();
    expect(again.previousInstanceId).toBe("reused");
    expect(readdirSync(dir)).toEqual(["box.lock"]);
    expect(existsSync(lockFile())).toBe(true);
  });
});
