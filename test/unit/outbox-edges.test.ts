import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../core/logger.js";
import { Outbox } from "../../core/outbox.js";
import { RelayRequestError } from "../../core/plugin.js";
import type { ControlResult } from "../../core/types.js";
import { inboxSetup, msg, poke, settle } from "../support/inbox.js";

// The outbox where the journal fails it or the relay offers less: a done
// record the journal did not take, a new epoch meanwhile, two polls while
// a delivery is under way, and a transport that cannot answer.

const setups: ReturnType<typeof inboxSetup>[] = [];
afterEach(() => setups.splice(0).forEach((s) => s.remove()));
function setup() {
  const s = inboxSetup();
  setups.push(s);
  const log: string[] = [];
  s.controls.declare("test", poke(log));
  return { ...s, log };
}
const full = () => {
  throw new Error("database or disk is full");
};
const answer = (tag: string): ControlResult => ({ ok: true, action: "poke", message: `poked ${tag}`, agents: [] });

describe("a done record the journal did not take", () => {
  it("the relay delivers the message again (it was not acked): answered again, not run again", async () => {
    const { inbox, journal, sent, log } = setup();
    journal.done = full;
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect([log, sent.answers, sent.acks]).toEqual([["start one", "end one"], [[1, answer("one")]], []]);
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect(log).toEqual(["start one", "end one"]);
    expect(sent.answers).toEqual([[1, answer("one")], [1, answer("one")]]);
  });

  it("a message that is no control is not answered", async () => {
    const { inbox, journal, sent } = setup();
    journal.done = full;
    inbox.take([{ id: 1, kind: "chat", payload: { text: "hi" } }]);
    await inbox.idle();
    expect([sent.answers, sent.acks]).toEqual([[], []]);
  });

  it("is forgotten when the relay's ids start over: a new message with its id runs", async () => {
    const { inbox, journal, log } = setup();
    const done = journal.done;
    journal.done = full;
    inbox.take([msg(1, { action: "poke", tag: "old" })]);
    await inbox.idle();
    inbox.startOver("two");
    journal.done = done;
    inbox.take([msg(1, { action: "poke", tag: "new" })]);
    await inbox.idle();
    expect(log).toEqual(["start old", "end old", "start new", "end new"]);
  });
});

describe("redelivery", () => {
  it("two polls while an answer is on its way send it once", async () => {
    const { inbox, relay, sent } = setup();
    relay.fail = () => new RelayRequestError("relay unreachable");
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    relay.fail = undefined;
    inbox.redeliver();
    inbox.redeliver();
    await settle();
    expect(sent.answers).toEqual([[1, answer("one")]]);
    expect(sent.acks).toEqual([1]);
  });

  it("sends nothing when the journal cannot be read", async () => {
    const { inbox, journal, sent } = setup();
    journal.undelivered = full;
    inbox.redeliver();
    await settle();
    expect([sent.answers, sent.acks]).toEqual([[], []]);
  });

  it("a transport that cannot answer still gets the ack", async () => {
    const { journal } = setup();
    const acks: number[] = [];
    const outbox = new Outbox(journal, { ack: async (id: number) => void acks.push(id) }, createLogger({ level: "error", write: () => undefined }));
    journal.started(1);
    journal.done(1, answer("one"));
    await outbox.deliver(1, answer("one"));
    journal.started(2);
    journal.done = full;
    expect(await outbox.recordDone(2, answer("two"))).toBe(false);
    expect(acks).toEqual([1]);
    expect(journal.entry(1)).toMatchObject({ acked: true });
  });
});
