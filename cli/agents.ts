import type { RelayAdminClient, RelayHost } from "../plugins/relay-http/admin-client.js";
import type { WireAgentReport as AgentReport, WireControlResult as ControlResult } from "../plugins/relay-http/wire.js";
import type { ControlPayload } from "../core/types.js";
import type { ResolvedConfig } from "../core/config/schema.js";
import { escapeTerminal, safeJson } from "../core/text.js";
import { CliError } from "./fatal.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";

export interface TargetArgs extends CommonArgs {
  agent?: string;
  all?: boolean;
  host?: string;
  wait: boolean;
  timeout: number;
  json?: boolean;
}

/** `stop` and `restart`: finds the host that runs the agent, sends the control, waits for the answer. */
export async function runTargeted(action: "shutdown" | "restart", args: TargetArgs): Promise<void> {
  positive(args.timeout, "--timeout");
  const client = await clientFor(args);
  if (args.all) {
    const hosts = args.host ? [await pickHost(client, args.host)] : (await client.hosts()).filter((h) => h.online).map((h) => h.id);
    if (hosts.length === 0) throw new CliError("no host is online");
    for (const host of hosts) await send(client, host, { action, requestedBy: "cli", requestedAt: Date.now() }, args);
    return;
  }
  if (!args.agent) throw new CliError("name an agent (its label, session or agentId), or pass --all", 2);
  const host = await hostOf(client, args.agent, args.host);
  await send(client, host, { action, agentId: args.agent, requestedBy: "cli", requestedAt: Date.now() }, args);
}

/** `ps`: hosts and their agents, as a table or JSON; with --watch, a live view (see `watchPs`). */
export async function runPs(args: CommonArgs & { json?: boolean; watch?: boolean; interval?: number }): Promise<void> {
  if (args.watch) positive(args.interval ?? 2, "--interval");
  const client = await clientFor(args);
  if (args.watch) {
    const { watchPs } = await import("./watch.js");
    const out = process.stdout;
    return watchPs(() => client.hosts(), { intervalMs: (args.interval ?? 2) * 1000, tty: Boolean(out.isTTY), json: Boolean(args.json), write: (text) => out.write(text), render: psTable });
  }
  const hosts = await client.hosts();
  process.stdout.write(args.json ? safeJson(hosts, 2) + "\n" : psTable(hosts, Date.now()));
}

/**
 * The `ps` table. Every field came from the relay: shown, never acted on.
 * STATE is the agent's live state (a daemon that reports none: its status);
 * a blocked agent's question and options, or why it is stuck or exited, go
 * on the line under it.
 */
export function psTable(hosts: RelayHost[], now: number): string {
  if (hosts.length === 0) return "no hosts have registered with this relay\n";
  const rows: Array<{ cells: string[]; detail?: string }> = [
    { cells: ["HOST", "HOST STATE", "SEEN", "SESSION", "PROVIDER", "LABEL", "STATE", "SINCE", "PID", "STARTED", "READY IN", "RESTARTS", "CWD"] },
  ];
  for (const host of hosts) {
    const id = cell(host?.id);
    const online = host?.online ? "online" : "offline";
    const seen = ago(now, host?.lastSeen);
    const agents = agentsOf(host);
    if (agents.length === 0) rows.push({ cells: [id, online, seen, "-", "", "", "", "", "", "", "", "", ""] });
    for (const a of agents) {
      const live = cell(a.state) || cell(a.status);
      const state = live === "exited" && typeof a.exitCode === "number" ? `exited(${a.exitCode})` : live;
      const since = typeof a.stateSince === "number" ? ago(now, a.stateSince) : "";
      const readyIn = typeof a.timeToReadyMs === "number" ? `${(a.timeToReadyMs / 1000).toFixed(1)}s` : "";
      const restarts = cell(a.restarts) || "0";
      const cells = [id, online, seen, cell(a.tmuxSession), cell(a.provider), cell(a.label), state, since, cell(a.pid), ago(now, a.startedAt), readyIn, restarts, cell(a.cwd)];
      rows.push({ cells, ...detailOf(a, live) });
    }
  }
  const widths = rows[0]!.cells.map((_, i) => Math.max(...rows.map((r) => r.cells[i]!.length)));
  let text = "";
  for (const row of rows) {
    text += row.cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n";
    if (row.detail) text += `    └ ${row.detail}\n`;
  }
  return text;
}

/** The line under an agent's row: a blocked agent's question and options, why a stuck or exited one is so. */
function detailOf(a: AgentReport, state: string): { detail?: string } {
  if (state === "blocked") {
    const options = Array.isArray(a.options) ? a.options.map(cell).filter(Boolean) : [];
    return { detail: `${cell(a.question) || "(question not read)"}${options.length ? `  [${options.join(" | ")}]` : ""}` };
  }
  const notable = state === "stuck" || state === "exited" || a.status === "stuck" || a.status === "exited";
  return a.detail !== undefined && notable ? { detail: cell(a.detail) } : {};
}

async function send(client: RelayAdminClient, host: string, control: ControlPayload, args: { wait?: boolean; timeout: number; json?: boolean }) {
  const id = await client.sendControl(host, control);
  if (!args.wait) return printSent(host, id, control, args);
  printResult(host, id, control, await waitForResult(client, id, host, args.timeout), args);
}

/** What `--no-wait` prints: the control went to the relay, under this message id. */
export function printSent(host: string, id: number, control: ControlPayload, args: { json?: boolean }): void {
  process.stdout.write(args.json ? safeJson({ host, messageId: id }) + "\n" : `sent ${control.action} to ${cell(host)} (message ${id})\n`);
}

/** Prints a control's answer (the agents it names), and fails the command when the host refused. */
export function printResult(host: string, id: number, control: ControlPayload, result: ControlResult, args: { json?: boolean }): void {
  if (args.json) process.stdout.write(safeJson({ host, messageId: id, ...result }, 2) + "\n");
  else if (result.ok) {
    process.stdout.write(`${cell(host)}: ${cell(result.message)}\n`);
    for (const agent of Array.isArray(result.agents) ? result.agents : []) process.stdout.write(describeAgent(agent) + "\n");
  }
  if (!result.ok) {
    if (args.json) process.exitCode = 1;
    else throw new CliError(`${host} refused ${control.action} [${cell(result.code)}]: ${cell(result.error)}`);
  }
}

/**
 * Waits up to `timeoutS` for the answer to message `id`. Without one, says
 * what is true: the host never took the message (it stays queued at the
 * relay), or took it and did not answer in time (it may still be working).
 * `until` ends the wait early with what it returns (checked each second).
 */
export async function waitForResult(
  client: RelayAdminClient,
  id: number,
  host: string,
  timeoutS: number,
  until?: (delivered: boolean | undefined) => ControlResult | undefined,
): Promise<ControlResult> {
  const deadline = Date.now() + timeoutS * 1000;
  let delivered: boolean | undefined;
  for (let left = timeoutS * 1000; left > 0; left = deadline - Date.now()) {
    const answer = await client.result(id, Math.min(left, until ? 1_000 : 25_000));
    if (answer.result) return answer.result;
    delivered = answer.delivered;
    const early = until?.(delivered);
    if (early) return early;
  }
  if (delivered === false) {
    throw new CliError(`${host} did not take message ${id} within ${timeoutS} s: it stays queued at the relay until ${host} polls for it`);
  }
  if (delivered === true) throw new CliError(`${host} took message ${id} but gave no answer within ${timeoutS} s: it may still be working (see ps)`);
  throw new CliError(`no answer from ${host} within ${timeoutS} s (message ${id})`);
}

async function pickHost(client: RelayAdminClient, wanted: string | undefined): Promise<string> {
  let hosts: RelayHost[];
  try {
    hosts = await client.hosts();
  } catch (err) {
    if (wanted) return wanted; // a plain relay cannot list hosts; trust the name
    throw new CliError(`${(err as Error).message}; name the host with --host`);
  }
  if (wanted) {
    const host = hosts.find((h) => h.id === wanted);
    if (!host) throw new CliError(`no host "${wanted}" on this relay (hosts: ${hosts.map((h) => h.id).join(", ") || "none"})`);
    if (!host.online) process.stderr.write(`warning: ${wanted} is offline; the control waits for it\n`);
    return host.id;
  }
  const online = hosts.filter((h) => h.online);
  if (online.length === 1) return online[0]!.id;
  if (online.length === 0) throw new CliError("no host is online; start a daemon, or name one with --host");
  throw new CliError(`${online.length} hosts are online (${online.map((h) => h.id).join(", ")}): name one with --host`);
}

export async function hostOf(client: RelayAdminClient, target: string, wanted: string | undefined): Promise<string> {
  const hosts = (await client.hosts()).filter((h) => !wanted || h.id === wanted).map((h) => ({ ...h, agents: agentsOf(h) }));
  if (wanted && hosts.length === 0) throw new CliError(`no host "${wanted}" on this relay`);
  const matches = hosts.filter((h) => h.agents.some((a) => matches_(a, target)));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) {
    const known = hosts.flatMap((h) => h.agents.map((a) => a.label ?? a.tmuxSession));
    throw new CliError(`no agent matches "${target}"${known.length ? ` (agents: ${known.join(", ")})` : " (no agents are running)"}`);
  }
  throw new CliError(`"${target}" matches agents on ${matches.map((h) => h.id).join(", ")}: name one with --host`);
}

function matches_(agent: AgentReport, target: string): boolean {
  return agent.tmuxSession === target || agent.label === target || (agent.agentId !== "" && agent.agentId === target);
}

export function describeAgent(a: AgentReport): string {
  return `  ${cell(a?.tmuxSession)}  ${cell(a?.provider)}  ${cell(a?.label)}  ${cell(a?.status)}  pid ${cell(a?.pid) || "-"}  ${cell(a?.cwd)}`;
}

/** A host's agent records, whatever shape the relay gave them in. */
export function agentsOf(host: RelayHost | undefined): AgentReport[] {
  return Array.isArray(host?.agents) ? host.agents.filter((a) => typeof a === "object" && a !== null) : [];
}

/** A value from the relay as one line of text: strings escaped for the terminal, numbers as they are, anything else empty. */
export function cell(value: unknown): string {
  if (typeof value === "string") return escapeTerminal(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** The relay's admin client, for the config of these flags (checked against the plugins like every command's). */
export async function clientFor(args: CommonArgs): Promise<RelayAdminClient> {
  return (await clientAndConfig(args)).client;
}

/** The admin client and the config it was made from. */
export async function clientAndConfig(args: CommonArgs): Promise<{ client: RelayAdminClient; config: ResolvedConfig }> {
  const { config } = await withPlugins(await loadCliConfig(args));
  const { RelayAdminClient } = await import("../plugins/relay-http/admin-client.js");
  const { relayOrigin } = await import("./context.js");
  const origin = relayOrigin(config); // an error that cannot reach the relay names it and why this one
  const client = new RelayAdminClient({ relayUrl: config.relayUrl, ...(config.token ? { token: config.token } : {}), timeoutMs: config.requestTimeoutMs, origin });
  return { client, config };
}

export function ago(now: number, then: unknown): string {
  if (typeof then !== "number" || !Number.isFinite(then)) return "?";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** A numeric flag that must be a number above 0 (`--timeout abc` is a usage error, not `NaN s`). */
export function positive(value: number, flag: string): void {
  if (!Number.isFinite(value) || value <= 0) throw new CliError(`${flag}: expected a number above 0`, 2);
}
