import { spawn } from "node:child_process";
import { Orchestrator } from "../core/orchestrator.js";
import type { BackendSession } from "../core/types.js";
import { safeJson } from "../core/text.js";
import { positive } from "./agents.js";
import { noDaemon } from "./context.js";
import { CliError } from "./fatal.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";
import { loggerFor } from "./log.js";

/** The backend of this host (as the daemon configures it), and the session of the named agent. */
async function localAgent(args: CommonArgs & { agent: string }) {
  const { config, plugins } = await withPlugins(await loadCliConfig(args));
  const orchestrator = await Orchestrator.create({ config, plugins, logger: loggerFor(config) });
  const backend = orchestrator.backend;
  const sessions = await backend.list();
  const mine = sessions.filter((s) => !s.meta || s.meta.orchestratorId === config.id);
  const found = mine.filter((s) => s.name === args.agent || s.meta?.label === args.agent);
  if (found.length === 0) {
    const known = mine.map(name).join(", ");
    const daemon = noDaemon(); // no agents and no daemon: say so, not only that the agent is missing
    throw new CliError(`no agent "${args.agent}" on this host${known ? ` (agents here: ${known})` : ""}; ${daemon || "logs and attach work on the agent's own host"}`);
  }
  if (found.length > 1) throw new CliError(`"${args.agent}" matches ${found.map((s) => s.name).join(", ")}: use the session name`);
  return { backend, session: found[0]!, host: config.id };
}

/** `logs`: the agent's screen and scrollback, from its own host; with --follow, what changes next (see `followSession`). */
export async function runLogs(args: CommonArgs & { agent: string; follow?: boolean; lines: number; json?: boolean }): Promise<void> {
  positive(args.lines, "--lines");
  const { backend, session, host } = await localAgent(args);
  const FOLLOW_WINDOW = 2000;
  const shown = await backend.capture(session.name, args.follow ? Math.max(args.lines, FOLLOW_WINDOW) : args.lines);
  const first = shown.slice(-args.lines);
  if (args.json) {
    const label = session.meta?.label;
    process.stdout.write(safeJson({ host, session: session.name, ...(typeof label === "string" ? { label } : {}), lines: first }) + "\n");
  } else {
    process.stdout.write(first.join("\n") + (first.length ? "\n" : ""));
  }
  if (!args.follow) return;
  const { followSession } = await import("./follow.js");
  const out = process.stdout;
  await followSession(backend, session.name, shown, { write: (text) => out.write(text), tty: Boolean(out.isTTY), json: Boolean(args.json), rows: out.rows });
}

/** `attach`: this terminal joins the agent's session. */
export async function runAttach(args: CommonArgs & { agent: string }): Promise<void> {
  const { backend, session } = await localAgent(args);
  const argv = backend.attachCommand?.(session.name);
  if (!argv) throw new CliError("this host's agent backend cannot attach a terminal");
  const env = { ...process.env };
  delete env.TMUX; // nesting is what the user asked for
  const child = spawn(argv[0]!, argv.slice(1), { stdio: "inherit", env });
  process.exitCode = await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
}

function name(s: BackendSession): string {
  return s.meta?.label ? `${s.meta.label} (${s.name})` : s.name;
}
