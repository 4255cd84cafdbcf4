import { describe, expect, it } from "vitest";
import { NOW, gate, msg, poke, settle, useInboxes } from "../support/inbox.js";

// A message without a control holds up no control, and a control's key and
// handler are told when it was sent even when the relay did not say.

const setup = useInboxes();

describe("messages without a control", () => {
  it.each([
    ["a chat message", { id: 2, kind: "chat", payload: { text: "hi" } }],
    ["an invalid control", msg(2, { action: 7 })],
  ])("%s between two controls about different agents holds up neither", async (_what, between) => {
    const { inbox, controls } = setup();
    const log: string[] = [];
    const held = gate();
    controls.declare("test", poke(log, new Map([["a", held.promise]])));
    inbox.take([msg(1, { action: "poke", agent: "a", tag: "a" }), between, msg(3, { action: "poke", agent: "b", tag: "b" })]);
    await settle();
    expect(log).toEqual(["start a", "start b", "end b"]);
    held.open();
    await inbox.idle();
  });
});

describe("when a control was sent", () => {
  it("without a timestamp from the relay: now, for its key and its handler", async () => {
    const { inbox, controls } = setup();
    const seen: unknown[] = [];
    controls.declare("test", {
      action: "when",
      fields: {},
      key: (_c, { createdAt }) => (seen.push(["key", createdAt]), "*"),
      handle: ({ createdAt }) => (seen.push(["handler", createdAt]), { ok: true, action: "when", message: "", agents: [] }),
    });
    inbox.take([{ id: 1, kind: "control", payload: { orchestratorControl: { action: "when" } } }]);
    await inbox.idle();
    expect(seen).toEqual([
      ["key", NOW],
      ["handler", NOW],
    ]);
  });
});
