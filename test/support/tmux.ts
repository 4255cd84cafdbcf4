import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/** A tmux server of our own, on a socket name no one else uses. Never the default server. */
export class TestTmux {
  readonly socketName = `arotest-${process.pid}-${randomBytes(4).toString("hex")}`;

  run(...args: string[]): string {
    return execFileSync("tmux", ["-L", this.socketName, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  sessions(): string[] {
    try {
      return this.run("list-sessions", "-F", "#{session_name}").split("\n").filter(Boolean).sort();
    } catch {
      return [];
    }
  }

  capture(session: string): string {
    return this.run("capture-pane", "-p", "-J", "-S", "-200", "-t", `=${session}:`);
  }

  /** The visible screen only. */
  screen(session: string): string {
    return this.run("capture-pane", "-p", "-t", `=${session}:`);
  }

  /** Kills this test's own server, and only it. */
  kill(): void {
    try {
      execFileSync("tmux", ["-L", this.socketName, "kill-server"], { stdio: "ignore" });
    } catch {
      // no server was running
    }
  }
}
