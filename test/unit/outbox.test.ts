import { afterEach, describe, expect, it } from "vitest";
import { RelayRequestError } from "../../core/plugin.js";
import { gate, inboxSetup, msg, poke, settle } from "../support/inbox.js";

// What leaves the daemon for a handled message: the answer, then the ack,
// each sent until the relay confirms it, remembered in the journal.

const setups: ReturnType<typeof inboxSetup>[] = [];
afterEach(() => setups.splice(0).forEach((s) => s.remove()));
function setup(gates?: Map<string, Promise<void>>) {
  const s = inboxSetup();
  setups.push(s);
  const log: string[] = [];
  s.controls.declare("test", poke(log, gates));
  return { ...s, log };
}

describe("the outbox", () => {
  it("sends an answer and ack the relay did not take again at the next poll, once, without running the control again", async () => {
    const { inbox, journal, relay, sent, log, logs } = setup();
    relay.fail = () => new RelayRequestError("relay unreachable");
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect(logs.some((l) => /WARN .*could not deliver the answer or ack of message 1: relay unreachable; will try again/.test(l))).toBe(true);
    expect(journal.undelivered().map((e) => [e.id, e.answered, e.acked])).toEqual([[1, false, false]]);
    relay.fail = undefined;
    inbox.redeliver();
    await settle();
    expect(sent.answers.map(([id]) => id)).toEqual([1]);
    expect(sent.acks).toEqual([1]);
    expect(journal.undelivered()).toEqual([]);
    inbox.redeliver(); // nothing left to send
    await settle();
    expect(sent.acks).toEqual([1]);
    expect(log).toEqual(["start one", "end one"]);
  });

  it("an answer the relay took is not sent again when only the ack is missing", async () => {
    const { inbox, journal, relay, sent } = setup();
    relay.failAck = () => new RelayRequestError("relay unreachable");
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect(journal.entry(1)).toMatchObject({ answered: true, acked: false });
    relay.failAck = undefined;
    inbox.redeliver();
    await settle();
    expect(sent.answers.map(([id]) => id)).toEqual([1]);
    expect(sent.acks).toEqual([1]);
    expect(journal.entry(1)).toMatchObject({ answered: true, acked: true });
  });

  it("a message the relay no longer has (404) counts as delivered: it is not sent again", async () => {
    const { inbox, journal, relay, sent } = setup();
    relay.fail = () => new RelayRequestError("no such message", 404);
    inbox.take([msg(1, { action: "poke", tag: "one" })]);
    await inbox.idle();
    expect(journal.entry(1)).toMatchObject({ state: "done", answered: true, acked: true });
    relay.fail = undefined;
    inbox.redeliver();
    await settle();
    expect([sent.answers, sent.acks]).toEqual([[], []]);
  });

  it("does not send again what a message being handled will send itself", async () => {
    const held = gate();
    const { inbox, journal, sent } = setup(new Map([["all", held.promise]]));
    // Message 2 was done in an earlier run, its answer unconfirmed; the relay delivers it again, behind a held control for every agent.
    journal.done(2, { ok: true, action: "poke", message: "poked two", agents: [] });
    inbox.take([msg(1, { action: "poke", tag: "all" }), msg(2, { action: "poke", tag: "two" })]);
    inbox.redeliver(); // a poll while both are in hand
    await settle();
    expect(sent.answers).toEqual([]);
    held.open();
    await inbox.idle();
    expect(sent.answers.map(([id]) => id)).toEqual([1, 2]);
    expect(sent.acks).toEqual([1, 2]);
  });

  it("logs a failing journal once, and says when it takes writes again", async () => {
    const { inbox, journal, logs } = setup();
    const { done, setCursor } = journal;
    const full = () => {
      throw new Error("database or disk is full");
    };
    journal.done = full;
    journal.setCursor = full;
    inbox.take([msg(1, { action: "poke", tag: "one", agent: "a" }), msg(2, { action: "poke", tag: "two", agent: "b" })]);
    await inbox.idle();
    expect(logs.filter((l) => /ERROR .*cannot write the journal/.test(l))).toHaveLength(1);
    journal.done = done;
    journal.setCursor = setCursor;
    inbox.redeliver();
    await settle();
    expect(logs.filter((l) => /INFO .*the journal .* takes writes again/.test(l))).toHaveLength(1);
    expect(logs.filter((l) => /INFO .*the journal takes writes again; message \d recorded/.test(l))).toHaveLength(2);
  });
});
