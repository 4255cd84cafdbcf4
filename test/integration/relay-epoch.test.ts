import { existsSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// Issue 11, point 1, against our own relay: its database is wiped while the
// daemon is down, and ids start at 1 again under a new epoch.

let home: TestHome;
let tmux: TestTmux;
let server: RelayServer | undefined;
const daemons: TestDaemon[] = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.terminate("SIGKILL");
  await server?.close();
  tmux.kill();
  home.remove();
});

/** Sends a spawn control on a fresh connection (the relay is restarted on the same port: no pooled socket may outlive it). */
function send(label: string): Promise<number> {
  const body = JSON.stringify({ to: "orchestrator-box", kind: "control", payload: { orchestratorControl: { action: "spawn", label } } });
  return new Promise((resolve, reject) => {
    const req = request(`${server!.url}/api/messages`, { method: "POST", agent: false, headers: { "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve((JSON.parse(text) as { id: number }).id));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const startsOf = (label: string) =>
  existsSync(home.transcript) ? readFileSync(home.transcript, "utf8").split("\n").filter((l) => l.includes('"start"') && l.includes(`"AGENT_RELAY_LABEL":"${label}"`)).length : 0;

it("a relay whose database was wiped while the daemon was down: every control after it runs once and is answered", async () => {
  const dataDir = join(home.root, "relay");
  server = new RelayServer({ dataDir, port: 0 });
  await server.listen();
  const port = Number(new URL(server.url).port);
  const first = new TestDaemon(home, tmux, { relayUrl: server.url }).start();
  daemons.push(first);
  const before = await Promise.all(["o1", "o2", "o3"].map(send));
  await waitFor("answers before the wipe", () => before.every((id) => server!.store.result(id) !== undefined), 15_000);
  const epoch = server.store.epoch;
  await first.kill9();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
  server = new RelayServer({ dataDir, port });
  await server.listen();
  expect(server.store.epoch).not.toBe(epoch);
  const labels = ["n1", "n2", "n3", "n4", "n5"];
  const after: number[] = [];
  for (const label of labels) after.push(await send(label));
  expect(after).toEqual([1, 2, 3, 4, 5]);
  daemons.push(new TestDaemon(home, tmux, { relayUrl: server.url }).start());
  await waitFor("answers after the wipe", () => after.every((id) => server!.store.result(id) !== undefined), 20_000);
  expect(after.map((id) => (server!.store.result(id) as { ok: boolean }).ok)).toEqual([true, true, true, true, true]);
  expect(labels.map(startsOf)).toEqual([1, 1, 1, 1, 1]);
});
