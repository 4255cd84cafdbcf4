import { existsSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { freePort } from "../support/net.js";
import { TestRelay } from "../support/relay.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";

// Issue #14.7: errors are one kind. A config error exits 2 before anything listens; a refused token
// ends the daemon with a clear message; a taken port says by what.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(() => {
  tmux.kill();
  home.remove();
});

describe("config errors", () => {
  it("up, run and relay exit 2 naming the file, the key and the nearest key, before the relay listens or makes its token", async () => {
    const file = join(home.root, "orchestrator.config.json");
    writeFileSync(file, JSON.stringify({ providres: ["claude"], hosts: { "*": { baseDri: "/tmp" } }, tmux: { socketNme: "x" } }));
    const up = new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: file });
    const expected =
      "config error:\n" +
      `${file}: hosts.*.baseDri: unknown key (did you mean "baseDir"?)\n` +
      `${file}: providres: unknown key (did you mean "providers"?)\n`;
    for (const command of [["up", "--port", "0"], ["run"], ["relay", "--port", "0"]]) {
      expect(withoutConfigLine(await up.cli(command)), command[0]).toMatchObject({ code: 2, stdout: "", stderr: expected });
    }
    writeFileSync(file, JSON.stringify({ tmux: { socketNme: "x" } }));
    for (const command of [["up", "--port", "0"], ["run"]]) {
      expect(withoutConfigLine(await up.cli(command)), command[0]).toMatchObject({ code: 2, stderr: `config error:\n${file}: tmux: unknown key "socketNme" (did you mean "socketName"?)\n` });
    }
    expect(existsSync(up.tokenFile)).toBe(false); // the relay never started
  });

  it("a flag's bad value is a config error too, naming the flag", async () => {
    const up = new TestUp(home, tmux);
    expect(withoutConfigLine(await up.cli(["up", "--port", "abc"]))).toMatchObject({ code: 2, stderr: "config error:\ncommand-line flag --port: relayServer.port: Invalid input: expected number, received NaN\n" });
    expect(withoutConfigLine(await up.cli(["relay", "--port", "99999"]))).toMatchObject({ code: 2, stderr: "config error:\ncommand-line flag --port: relayServer.port: Too big: expected number to be <=65535\n" });
    expect(existsSync(up.tokenFile)).toBe(false);
  });
});

describe("a token the relay refuses", () => {
  it("ends the daemon at registration with the relay's URL and where the token came from, never the token", async () => {
    const relay = await new TestRelay({ token: "right-token-1234567890" }).start();
    const daemon = new TestDaemon(home, tmux, { relayUrl: relay.url, token: "wrong-token-0987654321" }).start();
    try {
      expect(await daemon.waitForExit(30_000)).toBe(1);
      const logs = daemon.logs.join("\n");
      expect(logs).toContain(
        `the relay ${relay.url} refused the token (from environment variable AGENT_RELAY_TOKEN) with HTTP 401 at registration: set the relay's token (AGENT_RELAY_TOKEN, or token in the config)`,
      );
      expect(logs).not.toContain("wrong-token-0987654321");
      expect(logs).not.toMatch(/retrying/);
    } finally {
      await daemon.kill9();
      await relay.stop();
    }
  });
});

describe("up on a port that is taken", () => {
  let other: Server | undefined;
  afterEach(() => other?.close());

  it("says another relay holds it (with its pid), or another program; exits 1 before the daemon starts", async () => {
    const first = await new TestUp(home, tmux).start();
    try {
      const port = new URL(first.url).port;
      const second = withoutConfigLine(await first.cli(["up", "--port", port]));
      expect(second).toMatchObject({
        code: 1,
        stderr: `error: port 127.0.0.1:${port} is taken by another agent-relay-orchestrator relay (pid ${first.pid}): one is already running (the CLI talks to it), or choose another --port\n`,
      });
      expect(second.stdout).toBe("");
    } finally {
      await first.stop();
    }

    const port = await freePort();
    other = createServer();
    await new Promise<void>((resolve) => other!.listen(port, "127.0.0.1", resolve));
    const taken = withoutConfigLine(await new TestUp(home, tmux).cli(["up", "--port", String(port)]));
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(new RegExp(`^error: port 127\\.0\\.0\\.1:${port} is in use by another program \\(pid ${process.pid}, [^)]+\\): stop it, or choose another --port\\n$`));
    expect(taken.stderr).not.toMatch(/registered|relay listening/);
  });
});

/** `up` and `run` first say which config file they loaded; the lines after it are what these tests are about. */
function withoutConfigLine<T extends { stderr: string }>(result: T): T {
  return { ...result, stderr: result.stderr.replace(/^\S+ INFO config: .*\n/m, "") };
}
