import { RelayRequestError } from "../core/index.js";
import { safeJson } from "../core/text.js";
import { agentsOf, ago, cell, clientFor } from "./agents.js";
import { CliError } from "./fatal.js";
import type { CommonArgs } from "./load.js";

/** `hosts`: each host of the relay with its state, when it was last heard from, its providers and how many agents it runs. */
export async function runHosts(args: CommonArgs & { json?: boolean }): Promise<void> {
  const hosts = await (await clientFor(args)).hosts();
  if (args.json) {
    process.stdout.write(safeJson(hosts, 2) + "\n");
    return;
  }
  if (hosts.length === 0) {
    process.stdout.write("no hosts have registered with this relay\n");
    return;
  }
  const now = Date.now();
  const rows = [["HOST", "STATE", "SEEN", "PROVIDERS", "AGENTS", "VERSION"]];
  for (const h of hosts) {
    const providers = Array.isArray(h.providers) ? h.providers.map(cell).join(",") : "";
    rows.push([cell(h.id), h.online ? "online" : "offline", ago(now, h.lastSeen), providers, String(agentsOf(h).length), cell(h.version)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
}

/**
 * `hosts rm <id>`: forgets a host that is gone (its record and agent list;
 * messages to it stay). An online host only with `--force`: it registers
 * again at its next heartbeat unless its daemon is stopped.
 */
export async function runHostsRm(args: CommonArgs & { id: string; force?: boolean }): Promise<void> {
  const client = await clientFor(args);
  const host = (await client.hosts()).find((h) => h.id === args.id);
  if (!host) throw new CliError(`no host "${args.id}" on this relay`);
  if (host.online && !args.force) {
    throw new CliError(`${args.id} is online (last seen ${ago(Date.now(), host.lastSeen)}): stop its daemon first, or pass --force`);
  }
  try {
    await client.removeHost(args.id, args.force);
  } catch (err) {
    // Between the listing and the removal, it came back (or went): the relay has the last word.
    if (err instanceof RelayRequestError && (err.status === 409 || err.status === 404)) throw new CliError(`${err.message}${err.status === 409 ? " (pass --force)" : ""}`);
    throw err;
  }
  process.stdout.write(`removed host ${cell(args.id)}\n`);
}
