import type { ControlPayload } from "../core/types.js";
import { clientFor, hostOf, positive, printResult, printSent, waitForResult } from "./agents.js";
import { CliError } from "./fatal.js";
import type { CommonArgs } from "./load.js";

export interface MessageArgs extends CommonArgs {
  agent: string;
  /** The positional value (`-`: read stdin). */
  value?: string;
  /** What came after `--`, as typed: the value, whatever it looks like. */
  rest: string[];
  host?: string;
  wait: boolean;
  timeout?: number;
  json?: boolean;
}

/** The host's own default TTL (10 min) plus a margin: how long `send` waits when given no `--ttl` and no `--timeout`. */
const DEFAULT_WAIT_S = 10 * 60 + 60;
const MAX_TEXT = 100_000;

/**
 * `send <agent> <text>`: queues a message for an agent on the host that runs
 * it and (unless `--no-wait`) waits for the outcome: delivered (and when),
 * expired (its TTL passed while the agent was busy or blocked), or why not.
 * `-` reads the text from stdin; after `--` the text is taken as it is, even
 * when it starts with `--`.
 */
export async function runSend(args: MessageArgs & { ttl?: string; stdin?: boolean }): Promise<void> {
  if (args.timeout !== undefined) positive(args.timeout, "--timeout");
  const ttlMs = args.ttl === undefined ? undefined : duration(args.ttl, "--ttl");
  const text = args.stdin && args.rest.length === 0 && !args.value ? await readStdin() : valueOf(args, "text");
  if (text.trim() === "") throw new CliError("the text is empty: nothing to send", 2);
  if (text.length > MAX_TEXT) throw new CliError(`the text has ${text.length} characters; at most ${MAX_TEXT} can be sent`, 2);
  const control: ControlPayload = {
    action: "send",
    agentId: args.agent,
    text,
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    requestedBy: "cli",
    requestedAt: Date.now(),
  };
  await sendAndWait(args, control, args.timeout ?? (ttlMs !== undefined ? Math.ceil(ttlMs / 1000) + 60 : DEFAULT_WAIT_S));
}

/**
 * `respond <agent> <option>`: answers the question an agent is blocked on
 * with the option of that label ("Yes", "no", a unique prefix), and waits
 * for the answer: chosen, or refused with the agent's state and options.
 */
export async function runRespond(args: MessageArgs): Promise<void> {
  if (args.timeout !== undefined) positive(args.timeout, "--timeout");
  const option = valueOf(args, "option");
  if (option.trim() === "") throw new CliError("name the option to choose (its label, e.g. Yes)", 2);
  const control: ControlPayload = { action: "respond", agentId: args.agent, option, requestedBy: "cli", requestedAt: Date.now() };
  await sendAndWait(args, control, args.timeout ?? 30);
}

async function sendAndWait(args: MessageArgs, control: ControlPayload, timeoutS: number): Promise<void> {
  const client = await clientFor(args);
  const host = await hostOf(client, args.agent, args.host);
  const id = await client.sendControl(host, control);
  if (!args.wait) return printSent(host, id, control, args);
  printResult(host, id, control, await waitForResult(client, id, host, timeoutS), args);
}

/** The one value: the positional, or the one argument after `--` (never both, never several). */
function valueOf(args: MessageArgs, name: string): string {
  const given = [...(args.value !== undefined ? [String(args.value)] : []), ...args.rest];
  if (given.length === 0) throw new CliError(`give the ${name} (in quotes; after -- when it starts with "-"; - reads stdin)`, 2);
  if (given.length > 1) throw new CliError(`give the ${name} as one argument (in quotes); got ${given.length}`, 2);
  return given[0]!;
}

/** `90s`, `10m`, `1h`, `500ms`, or a number of seconds, in ms. */
export function duration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"] : NaN;
  if (!Number.isFinite(ms) || ms < 1 || ms > 24 * 3_600_000) throw new CliError(`${flag}: expected a duration up to 24h such as 90s, 10m or 1h`, 2);
  return Math.round(ms);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
