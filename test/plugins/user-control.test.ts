import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { FIXTURES, TestHome } from "../support/env.js";
import type { TestRelay } from "../support/relay.js";
import { useRig } from "../support/rig.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// A control action a user declares in their orchestrator.config.ts, with
// fields of its own, through a real daemon and a relay: the core passes its
// fields through, orders it by the key it declares, and has its effect once.

const rig = useRig({ extensions: true });
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
beforeEach(() => ({ home, tmux, relay } = rig));

describe("a control action declared by a user plugin in orchestrator.config.ts", () => {
  it("gets its own fields, runs once though delivered again and again, in order per agent; its fields are checked; other actions are unknown", async () => {
    const notesFile = join(home.root, "notes.txt");
    const daemon = rig.daemon({ env: { AGENT_RELAY_ORCHESTRATOR_CONFIG: join(FIXTURES, "config", "user-control", "orchestrator.config.ts"), NOTES_FILE: notesFile } });
    await rig.registered("box", 20_000);
    relay.dropAcks = true;
    relay.replay = true; // every poll returns every message again

    const slow = relay.sendControl("box", { action: "note", agent: "alice", text: "first, slowly", delayMs: 1500 });
    const next = relay.sendControl("box", { action: "note", agent: "alice", text: "second" });
    const other = relay.sendControl("box", { action: "note", agent: "bob", text: "hello bob" });
    const bad = relay.sendControl("box", { action: "note", agent: "alice", text: "x".repeat(101) });
    const unknown = relay.sendControl("box", { action: "launch", target: "moon" });
    const ids = [slow, next, other, bad, unknown];
    await waitFor("every answer", () => ids.every((id) => relay.results.has(id)), 30_000);
    await waitFor("each message acked again after its answer", () => ids.every((id) => relay.acks.filter((a) => a.id === id).length >= 2), 30_000);

    expect(relay.results.get(slow)).toMatchObject({ ok: true, action: "note", message: "noted for alice: first, slowly" });
    expect(relay.results.get(next)).toMatchObject({ ok: true, message: "noted for alice: second" });
    expect(relay.results.get(bad)).toMatchObject({ ok: false, action: "unknown", code: "invalid" });
    expect(String(relay.results.get(bad)?.error)).toMatch(/text: expected at most 100 characters/);
    expect(relay.results.get(unknown)).toMatchObject({ ok: false, action: "launch", code: "unknown_action" });

    // Once each, though delivered many times; alice's in the order sent, though the first was slow.
    const lines = existsSync(notesFile) ? readFileSync(notesFile, "utf8").trim().split("\n") : [];
    expect([...lines].sort()).toEqual(["alice: first, slowly", "alice: second", "bob: hello bob"]);
    expect(lines.indexOf("alice: first, slowly")).toBeLessThan(lines.indexOf("alice: second"));
  }, 60_000);
});
