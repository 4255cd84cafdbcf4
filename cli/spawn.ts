import { homedir } from "node:os";
import { resolve } from "node:path";
import type { RelayAdminClient, RelayHost } from "../plugins/relay-http/admin-client.js";
import type { WireAgentReport as AgentReport, WireControlResult as ControlResult } from "../plugins/relay-http/wire.js";
import type { ControlPayload } from "../core/types.js";
import { agentsOf, ago, cell, clientAndConfig, positive, printResult, printSent, waitForResult } from "./agents.js";
import { CliError } from "./fatal.js";
import type { CommonArgs } from "./load.js";

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
  timeout?: number;
  json?: boolean;
}

/** How much longer than the host's start timeout `spawn` waits: a stuck agent's reason arrives within it. */
const WAIT_MARGIN_S = 30;

/**
 * `spawn`: checks the flags and that a host offers the provider, sends the
 * spawn control, and (unless `--no-wait`) waits for its outcome: the agent
 * ready, or why not. On a terminal it shows the start as it goes.
 */
export async function runSpawn(args: SpawnArgs): Promise<void> {
  if (args.timeout !== undefined) positive(args.timeout, "--timeout");
  const wait = args.wait !== false;
  const cwd = args.cwd === undefined ? undefined : cwdFor(args.cwd, process.cwd());
  const { client, config } = await clientAndConfig(args);
  const host = await hostFor(client, args.provider, args.host, wait);
  // Named here, not by the host, so the progress below can find the agent (the host's default is the same).
  const label = args.label ?? `${args.provider}-${Date.now()}`;
  const control: ControlPayload = {
    action: "spawn",
    provider: args.provider,
    ...(cwd !== undefined ? { cwd } : {}),
    label,
    ...(args.prompt !== undefined ? { prompt: args.prompt } : {}),
    ...(args.approvalMode !== undefined ? { approvalMode: args.approvalMode } : {}),
    ...(args.restart !== undefined ? { restartPolicy: args.restart } : {}),
    ...(args.replace ? { replace: true } : {}),
    requestedBy: "cli",
    requestedAt: Date.now(),
  };
  const id = await client.sendControl(host.id, control);
  if (!wait) return printSent(host.id, id, control, args);

  // The host announces its providers' start timeouts (ours do); else this config's.
  const announced = (host.meta?.startTimeoutsMs as Record<string, unknown> | undefined)?.[args.provider];
  const startTimeoutS = (typeof announced === "number" && announced > 0 ? announced : config.startTimeoutMs) / 1000;
  const timeoutS = args.timeout ?? Math.ceil(startTimeoutS) + WAIT_MARGIN_S;
  const progress = process.stderr.isTTY && !args.json ? new Progress(client, host.id, label, control.requestedAt!) : undefined;
  progress?.start(`waiting for ${cell(host.id)} to start ${cell(label)} (up to ${timeoutS} s; Ctrl-C stops waiting, not the agent)`);
  let result: ControlResult | undefined;
  try {
    // A 0.9.0 daemon never answers: once it took the message, that is all there is to know.
    const answers = host.meta?.instanceId !== undefined;
    result = await waitForResult(client, id, host.id, timeoutS, answers ? undefined : (delivered) => (delivered ? TOOK_IT : undefined));
  } finally {
    await progress?.stop(result);
  }
  printResult(host.id, id, control, result, args);
}

/**
 * `--cwd` as the host gets it. A path (it has a slash, is `.` or `..`, or
 * starts with `~`) is relative to this shell's directory and goes absolute;
 * the host still refuses it outside its baseDir. A bare name (no slash) goes
 * as it is, and the host takes it inside its baseDir, as 0.9.0 did: scripts
 * that pass `--cwd app` keep working wherever they run (like `docker -v
 * name:/x`, a volume, against `-v ./name:/x`, a folder).
 */
export function cwdFor(value: string, shellDir: string): string {
  if (value === "~" || value.startsWith("~/")) return resolve(homedir(), value.slice(2));
  if (value === "." || value === ".." || value.includes("/")) return resolve(shellDir, value);
  return value;
}

/**
 * The host to spawn on: the one named (which must offer the provider, and
 * be online unless the spawn only queues), else the one online host that
 * offers the provider, whatever other hosts are online.
 */
async function hostFor(client: RelayAdminClient, provider: string, wanted: string | undefined, wait: boolean): Promise<Pick<RelayHost, "id" | "meta">> {
  let hosts: RelayHost[];
  try {
    hosts = await client.hosts();
  } catch (err) {
    if (wanted) return { id: wanted }; // a plain relay cannot list hosts; trust the name
    throw new CliError(`${(err as Error).message}; name the host with --host`);
  }
  const offers = (h: RelayHost) => !Array.isArray(h.providers) || h.providers.includes(provider);
  const offered = (h: RelayHost) => (Array.isArray(h.providers) ? h.providers.map(cell).join(", ") || "none" : "?");
  if (wanted) {
    const host = hosts.find((h) => h.id === wanted);
    if (!host) throw new CliError(`no host "${wanted}" on this relay (hosts: ${hosts.map((h) => cell(h.id)).join(", ") || "none"})`);
    if (!offers(host)) throw new CliError(`${wanted} does not offer provider "${provider}" (it offers: ${offered(host)})`);
    if (!host.online) {
      const seen = `last seen ${ago(Date.now(), host.lastSeen)}`;
      if (wait) throw new CliError(`${wanted} is offline (${seen}): start its daemon, or pass --no-wait to queue the spawn for it`);
      process.stderr.write(`warning: ${wanted} is offline (${seen}); the spawn stays queued until it comes back\n`);
    }
    return host;
  }
  const online = hosts.filter((h) => h.online);
  if (online.length === 0) throw new CliError("no host is online: start a daemon (npm start), or name one with --host");
  const candidates = online.filter(offers);
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new CliError(`no online host offers provider "${provider}" (${online.map((h) => `${cell(h.id)}: ${offered(h)}`).join("; ")})`);
  }
  throw new CliError(`${candidates.length} online hosts offer ${provider} (${candidates.map((h) => cell(h.id)).join(", ")}): name one with --host`);
}

/** The answer for a host that took the spawn and never answers controls (a 0.9.0 daemon). */
const TOOK_IT: ControlResult = { ok: true, action: "spawn", message: "took the spawn (this daemon does not report outcomes: see ps)", agents: [] };

/**
 * The start as it goes, on a terminal (stderr): one line each time the
 * agent's state changes in the host's reports: starting, each dialog
 * answered, then ready, stuck or exited.
 */
class Progress {
  private running = true;
  private loop?: Promise<void>;
  private last = "";

  constructor(
    private readonly client: RelayAdminClient,
    private readonly hostId: string,
    private readonly label: string,
    /** Agents of that label started before this (less some clock skew) are an earlier one's. */
    private readonly since: number,
  ) {}

  start(headline: string): void {
    process.stderr.write(`${headline}\n`);
    this.loop = this.run();
  }

  /** Ends the polling; the answer's own record of the agent is its last state. */
  async stop(result?: ControlResult): Promise<void> {
    this.running = false;
    await this.loop;
    const agent = result?.ok && Array.isArray(result.agents) ? result.agents.find((a) => a?.label === this.label) : undefined;
    if (agent) this.show(agent);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const host = (await this.client.hosts()).find((h) => h.id === this.hostId);
        const agent = agentsOf(host).find((a) => a.label === this.label && !(a.startedAt < this.since - 5_000));
        if (agent && this.running) this.show(agent);
      } catch {
        // progress is a courtesy: the answer still comes
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  private show(agent: AgentReport): void {
    const line = progressLine(agent);
    if (!line || line === this.last) return;
    this.last = line;
    process.stderr.write(`  ${line}\n`);
  }
}

function progressLine(a: AgentReport): string {
  const status = cell(a.status);
  if (status === "starting") return a.detail ? cell(a.detail) : `starting ${cell(a.tmuxSession)}${typeof a.pid === "number" ? ` (pid ${a.pid})` : ""}`;
  if (status === "ready") return `ready${typeof a.timeToReadyMs === "number" ? ` in ${(a.timeToReadyMs / 1000).toFixed(1)} s` : ""}`;
  return a.detail ? `${status}: ${cell(a.detail)}` : status;
}
