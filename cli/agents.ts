import type { RelayAdminClient, RelayHost } from "../plugins/relay-http/admin-client.js";
import type { AgentReport, ControlPayload, ControlResult } from "../core/types.js";
import { escapeTerminal, safeJson } from "../core/text.js";
import { CliError } from "./fatal.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";

export interface SpawnArgs extends CommonArgs {
  provider: string;
  cwd?: string;
  label?: string;
  prompt?: string;
  approvalMode?: string;
  host?: string;
  restart?: string;
  replace?: boolean;
  wait?: boolean;
  timeout: number;
  json?: boolean;
}

/** `spawn`: sends a spawn control to a host; with --wait, prints its answer and exits by it. */
export async function runSpawn(args: SpawnArgs): Promise<void> {
  positive(args.timeout, "--timeout");
  const client = await clientFor(args);
  const host = await pickHost(client, args.host);
  const control: ControlPayload = {
    action: "spawn",
    provider: args.provider,
    ...(args.cwd !== undefined ? { cwd: args.cwd } : {}),
    ...(args.label !== undefined ? { label: args.label } : {}),
    ...(args.prompt !== undefined ? { prompt: args.prompt } : {}),
    ...(args.approvalMode !== undefined ? { approvalMode: args.approvalMode } : {}),
    ...(args.restart !== undefined ? { restartPolicy: args.restart } : {}),
    ...(args.replace ? { replace: true } : {}),
    requestedBy: "cli",
    requestedAt: Date.now(),
  };
  await send(client, host, control, args);
}

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
    return watchPs(() => client.hosts(), { intervalMs: (args.interval ?? 2) * 1000, tty: Boolean(out.isTTY), json: Boolean(args.json), write: (text) => out.write(text) });
  }
  const hosts = await client.hosts();
  process.stdout.write(args.json ? safeJson(hosts, 2) + "\n" : psTable(hosts, Date.now()));
}

/** The `ps` table. Every field came from the relay: shown, never acted on. */
export function psTable(hosts: RelayHost[], now: number): string {
  if (hosts.length === 0) return "no hosts have registered with this relay\n";
  const rows: Array<{ cells: string[]; detail?: string }> = [
    { cells: ["HOST", "STATE", "SEEN", "SESSION", "PROVIDER", "LABEL", "STATUS", "PID", "STARTED", "READY IN", "RESTARTS", "CWD"] },
  ];
  for (const host of hosts) {
    const id = cell(host?.id);
    const state = host?.online ? "online" : "offline";
    const seen = ago(now, host?.lastSeen);
    const agents = agentsOf(host);
    if (agents.length === 0) rows.push({ cells: [id, state, seen, "-", "", "", "", "", "", "", "", ""] });
    for (const a of agents) {
      const status = a.status === "exited" && typeof a.exitCode === "number" ? `exited(${a.exitCode})` : cell(a.status);
      const readyIn = typeof a.timeToReadyMs === "number" ? `${(a.timeToReadyMs / 1000).toFixed(1)}s` : "";
      const restarts = cell(a.restarts) || "0";
      const cells = [id, state, seen, cell(a.tmuxSession), cell(a.provider), cell(a.label), status, cell(a.pid), ago(now, a.startedAt), readyIn, restarts, cell(a.cwd)];
      const detail = a.detail !== undefined && (a.status === "stuck" || a.status === "exited") ? { detail: cell(a.detail) } : {};
      rows.push({ cells, ...detail });
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

async function send(client: RelayAdminClient, host: string, control: ControlPayload, args: { wait?: boolean; timeout: number; json?: boolean }) {
  const id = await client.sendControl(host, control);
  if (!args.wait) {
    process.stdout.write(args.json ? safeJson({ host, messageId: id }) + "\n" : `sent ${control.action} to ${cell(host)} (message ${id})\n`);
    return;
  }
  const result = await waitForResult(client, id, args.timeout * 1000);
  if (!result) throw new CliError(`no answer from ${host} within ${args.timeout} s (message ${id} stays queued)`);
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

async function waitForResult(client: RelayAdminClient, id: number, timeoutMs: number): Promise<ControlResult | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let left = timeoutMs; left > 0; left = deadline - Date.now()) {
    const result = await client.result(id, Math.min(left, 25_000));
    if (result) return result;
  }
  return undefined;
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

async function hostOf(client: RelayAdminClient, target: string, wanted: string | undefined): Promise<string> {
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

function describeAgent(a: AgentReport): string {
  return `  ${cell(a?.tmuxSession)}  ${cell(a?.provider)}  ${cell(a?.label)}  ${cell(a?.status)}  pid ${cell(a?.pid) || "-"}  ${cell(a?.cwd)}`;
}

/** A host's agent records, whatever shape the relay gave them in. */
function agentsOf(host: RelayHost | undefined): AgentReport[] {
  return Array.isArray(host?.agents) ? host.agents.filter((a) => typeof a === "object" && a !== null) : [];
}

/** A value from the relay as one line of text: strings escaped for the terminal, numbers as they are, anything else empty. */
function cell(value: unknown): string {
  if (typeof value === "string") return escapeTerminal(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** The relay's admin client, for the config of these flags (checked against the plugins like every command's). */
async function clientFor(args: CommonArgs): Promise<RelayAdminClient> {
  const { config } = await withPlugins(await loadCliConfig(args));
  const { RelayAdminClient } = await import("../plugins/relay-http/admin-client.js");
  return new RelayAdminClient({ relayUrl: config.relayUrl, ...(config.token ? { token: config.token } : {}), timeoutMs: config.requestTimeoutMs });
}

function ago(now: number, then: unknown): string {
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
