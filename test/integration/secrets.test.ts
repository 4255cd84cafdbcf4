import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { CLI, TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

const TOKEN = "tok-SECRET-9f8e7d6c5b4a";
const run = promisify(execFile);
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
let daemon: TestDaemon;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  relay = await new TestRelay({ token: TOKEN, extensions: true }).start();
});
afterEach(async () => {
  await daemon?.terminate("SIGKILL");
  await relay.stop();
  tmux.kill();
  home.remove();
});

/** Command lines of every process on the machine that mention `needle`. */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe("the token stays secret", () => {
  it("never appears in logs, errors, config output, reports, or command lines of our making", async () => {
    daemon = new TestDaemon(home, tmux, { relayUrl: relay.url, token: TOKEN }).start();
    await waitFor("registration", () => relay.orchestrators.get("box"));
    // a hostile or careless relay that echoes the token back in errors
    relay.faults = [{ match: /^GET \/api\/messages$/, fault: { status: 500, raw: `{"error": "bad token ${TOKEN}"}` } }];
    expect(await daemon.waitForLog(/HTTP 500/)).toContain("bad token ***");
    relay.faults = [];
    const spawn = relay.sendControl("box", { action: "spawn", label: "sec", prompt: "hello" });
    await waitFor("the answer", () => relay.results.has(spawn));
    expect(processesMentioning(TOKEN)).toEqual([]);
    const refused = relay.sendControl("box", { action: "spawn", cwd: `/nonexistent/${TOKEN}` });
    await waitFor("the refusal", () => relay.results.has(refused));

    const env = { ...home.env(), AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: TOKEN, AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: tmux.socketName };
    const outputs: string[] = [];
    for (const args of [["config"], ["config", "--json"], ["doctor"], ["ps"], ["spawn", "claude", "--host", "nowhere"], ["--relay-url", "http://127.0.0.1:1/", "ps"]]) {
      try {
        const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: home.root, env });
        outputs.push(stdout, stderr);
      } catch (err) {
        const e = err as { stdout: string; stderr: string };
        outputs.push(e.stdout, e.stderr);
      }
    }
    // the answers it provoked too: the spawn, and the refusal that quotes the token-bearing cwd
    const answers = [...relay.results.values()];
    expect(answers.some((a) => a.ok === false && /\/nonexistent\/\*\*\*/.test(String(a.error)))).toBe(true);
    const everything = [...daemon.logs, ...outputs, JSON.stringify(answers), JSON.stringify(relay.reported("box")), JSON.stringify([...relay.orchestrators.values()])].join("\n");
    expect(everything).toContain("***"); // it was there to hide
    expect(everything).not.toContain(TOKEN);
    // the agent itself does get it, as the protocol says
    const wrapper = (relay.reported("box").find((a) => a.label === "sec") as { pid: number }).pid;
    const child = readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, "utf8").trim().split(" ")[0];
    expect(readFileSync(`/proc/${child}/environ`, "utf8").split("\0")).toContain(`AGENT_RELAY_TOKEN=${TOKEN}`);
  });

  it("keeps its own files owner-only", async () => {
    daemon = new TestDaemon(home, tmux, { relayUrl: relay.url, token: TOKEN }).start();
    await waitFor("registration", () => relay.orchestrators.get("box"));
    const spawn = relay.sendControl("box", { action: "spawn", label: "perm" });
    await waitFor("the answer", () => relay.results.has(spawn));
    expect(statSync(home.stateDir).mode & 0o777).toBe(0o700);
    for (const file of ["box.journal.db", "box.journal.db-wal", "box.journal.db-shm"]) expect(statSync(join(home.stateDir, file)).mode & 0o777, file).toBe(0o600);
    expect(statSync(join(home.stateDir, "spawn")).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(home.stateDir, "spawn"))).toEqual([]); // env files are read and deleted at once
  });
});
