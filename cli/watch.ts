import type { RelayHost } from "../plugins/relay-http/admin-client.js";
import { errorMessage } from "../core/errors.js";
import { escapeTerminal, safeJson } from "../core/text.js";

export interface WatchOptions {
  intervalMs: number;
  /** A terminal: the view is redrawn in place (cursor home, clear). */
  tty: boolean;
  /** One JSON line of hosts per change. */
  json: boolean;
  write(text: string): void;
  /** The table of hosts at a time (`ps`'s). */
  render(hosts: RelayHost[], now: number): string;
}

/**
 * `ps --watch`: the hosts and their agents, refreshed every `intervalMs`. On
 * a terminal the table is redrawn in place; elsewhere (a pipe, a file) a new
 * table is printed only when something changed (not the "seen … ago" ticks).
 * A relay that cannot be reached is shown and asked again. Ctrl-C ends it
 * with status 0.
 */
export async function watchPs(load: () => Promise<RelayHost[]>, options: WatchOptions): Promise<void> {
  const stop = () => {
    if (options.tty && !options.json) options.write("\x1b[?25h"); // the cursor back
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (options.tty && !options.json) options.write("\x1b[?25l");
  let shown: string | undefined;
  for (;;) {
    let hosts: RelayHost[] = [];
    let problem: string | undefined;
    try {
      hosts = await load();
    } catch (err) {
      problem = escapeTerminal(errorMessage(err));
    }
    const now = Date.now();
    const text = problem !== undefined ? `error: ${problem}\n` : options.render(hosts, now);
    if (options.tty && !options.json) {
      const title = `agent-relay-orchestrator ps, every ${options.intervalMs / 1000} s · ${new Date(now).toLocaleTimeString()} · Ctrl-C to quit\n\n`;
      options.write("\x1b[H\x1b[J" + title + text);
    } else {
      const key = problem ?? safeJson(hosts.map(essentials));
      if (key !== shown) {
        if (options.json) options.write(safeJson(problem !== undefined ? { error: problem } : hosts) + "\n");
        else options.write((shown === undefined ? "" : "\n") + text);
        shown = key;
      }
    }
    await new Promise((r) => setTimeout(r, options.intervalMs));
  }
}

/** What a change is: hosts and agents coming and going, their state, status, pid and restarts; not the clock. */
function essentials(host: RelayHost): unknown {
  const agents = Array.isArray(host?.agents) ? host.agents : [];
  return {
    id: host?.id,
    online: host?.online,
    agents: agents.map((a) => (a && typeof a === "object" ? { s: a.tmuxSession, st: a.status, ls: a.state, q: a.question, o: a.options, p: a.pid, r: a.restarts, e: a.exitCode, l: a.label } : a)),
  };
}
