import { afterEach } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ControlRegistry, type ControlDeclaration } from "../../core/controls.js";
import { createHooks } from "../../core/hooks.js";
import { Inbox, type Clock, type InboxHost } from "../../core/inbox.js";
import { Journal } from "../../core/journal.js";
import { createLogger } from "../../core/logger.js";
import { Secrets } from "../../core/secrets.js";
import type { ControlResult, RelayMessage } from "../../core/types.js";

/** `inboxSetup` for each test that calls it, each removed after its test. */
export function useInboxes(): (options?: Parameters<typeof inboxSetup>[0]) => ReturnType<typeof inboxSetup> {
  const setups: ReturnType<typeof inboxSetup>[] = [];
  afterEach(() => setups.splice(0).forEach((s) => s.remove()));
  return (options) => {
    const s = inboxSetup(options);
    setups.push(s);
    return s;
  };
}

/** The relay's clock in these tests (epoch ms). */
export const NOW = 1_800_000_000_000;

/**
 * An inbox alone: a real journal in a temporary folder, a fake relay that
 * records answers and acks (and can be made to fail), a fake clock, and the
 * log lines; no tmux, no sleeps. `remove()` deletes the folder.
 */
export function inboxSetup(options: { host?: Partial<InboxHost>; clockOffsetMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ar-inbox-"));
  const journal = new Journal(dir, "t");
  journal.open();
  const sent = { answers: [] as [number, ControlResult][], acks: [] as number[] };
  /** Makes the relay's answer and ack requests (or the acks only) fail. */
  const relay = { fail: undefined as (() => Error) | undefined, failAck: undefined as (() => Error) | undefined };
  const transport = {
    clockOffsetMs: options.clockOffsetMs ?? 0,
    async answer(id: number, result: ControlResult) {
      if (relay.fail) throw relay.fail();
      sent.answers.push([id, result]);
    },
    async ack(id: number) {
      const fail = relay.fail ?? relay.failAck;
      if (fail) throw fail();
      sent.acks.push(id);
    },
  };
  const waits: number[] = [];
  const clock: Clock = { now: () => NOW, sleep: async (ms) => void waits.push(ms) };
  const controls = new ControlRegistry();
  const hooks = createHooks();
  const secrets = new Secrets();
  const host: InboxHost = {
    maxMessageAgeMs: 60_000,
    parseControl: (m) => controls.parseMessage(m),
    controlKey: controls.keyOf.bind(controls),
    dispatchParsed: (parsed, context) => controls.dispatch(hooks, secrets, parsed, context),
    agentKey: () => undefined,
    ...options.host,
  };
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => logs.push(line) });
  const make = () => new Inbox(host, transport, journal, logger, clock);
  const inbox = make();
  inbox.load();
  const remove = () => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { inbox, make, journal, sent, relay, waits, controls, hooks, logs, remove };
}

/** A control action "poke" about `agent` (or every agent), whose handler records each run (and whether it was a replay) and may be held. */
export function poke(log: string[], gates: Map<string, Promise<void>> = new Map()): ControlDeclaration {
  return {
    action: "poke",
    fields: { agent: z.string().optional(), tag: z.string() },
    key: (c) => (c.agent as string | undefined) ?? "*",
    async handle({ control, replay }) {
      log.push(`start ${control.tag}${replay ? " (replay)" : ""}`);
      await gates.get(control.tag as string);
      log.push(`end ${control.tag}`);
      return { ok: true, action: "poke", message: `poked ${control.tag}`, agents: [] };
    },
  };
}

export const msg = (id: number, control: Record<string, unknown>, createdAt: number | undefined = NOW): RelayMessage => ({
  id,
  kind: "control",
  ...(createdAt === undefined ? {} : { createdAt }),
  payload: { orchestratorControl: control },
});

/** A promise to hold a handler on, and the function that lets it go. */
export function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every pending promise callback run (a few turns of the event loop). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
