#!/usr/bin/env node
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { VERSION } from "../core/version.js";

/**
 * The command line. Commands load what they need when they run, so `--help`
 * and `--version` stay fast. Logs go to stderr, data to stdout.
 */
export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName("agent-relay-orchestrator")
    .usage("$0 [command] [options]\n\nHost daemon for Agent Relay: registers this host with a relay and runs AI coding agents in tmux.")
    .option("config", { type: "string", describe: "Config file to load (default: discovered, or $AGENT_RELAY_ORCHESTRATOR_CONFIG)" })
    .option("relay-url", { type: "string", describe: "Relay base URL (env AGENT_RELAY_URL)" })
    .option("token", { type: "string", describe: "Relay token (prefer env AGENT_RELAY_TOKEN: a flag shows in ps)" })
    .option("log-level", { type: "string", choices: ["silent", "error", "warn", "info", "debug", "trace"], describe: "How much to log on stderr" })
    .command(
      ["run", "$0"],
      "Run the daemon against the configured relay (the default command)",
      (y) => daemonOptions(y),
      async (args) => (await import("./run.js")).runDaemon(args),
    )
    .command(
      "up",
      "Run a relay and a daemon in one process: one host, nothing else to set up (npm start)",
      (y) => serverOptions(daemonOptions(y)),
      async (args) => (await import("./serve.js")).runUp(args),
    )
    .command(
      "relay",
      "Run only the relay server",
      (y) => serverOptions(y),
      async (args) => (await import("./serve.js")).runRelay(args),
    )
    .command(
      "spawn <provider>",
      "Start an agent on a host and wait until it is ready (or say why not)",
      (y) =>
        y
          .positional("provider", { type: "string", demandOption: true, describe: "claude, codex, or a plugin's provider" })
          .option("cwd", {
            type: "string",
            describe: "Working directory inside the host's baseDir: a path (./x, ../x, /abs, ~/x) is relative to this shell; a bare name is a folder of baseDir (default: baseDir)",
          })
          .option("label", { type: "string", describe: "Agent label (default: <provider>-<time>)" })
          .option("prompt", { type: "string", describe: "Initial prompt" })
          .option("approval-mode", { type: "string", describe: "Approval mode: guarded (default), full, read-only; claude also default, acceptEdits, plan, bypassPermissions" })
          .option("host", { type: "string", describe: "Orchestrator id; may be left out when exactly one online host offers the provider" })
          .option("restart", { type: "string", choices: ["never", "on-failure", "always"], describe: "Restart policy when the agent exits on its own (default: the host's, never)" })
          .option("replace", { type: "boolean", default: false, describe: "Replace a running agent with the same label" })
          .option("wait", { type: "boolean", default: true, describe: "Wait for the outcome, print it, exit 1 if the agent did not start (--no-wait only sends)" })
          .option("timeout", { type: "number", describe: "Seconds to wait (default: the host's start timeout + 30)" })
          .option("json", { type: "boolean", default: false, describe: "Print JSON" }),
      async (args) => (await import("./spawn.js")).runSpawn({ ...args, provider: args.provider! }),
    )
    .command(
      "ps",
      "List hosts and their agents",
      (y) =>
        y
          .option("json", { type: "boolean", default: false, describe: "Print JSON" })
          .option("watch", { alias: "w", type: "boolean", default: false, describe: "Keep the view live: redrawn in place on a terminal, a new table on each change elsewhere (Ctrl-C quits)" })
          .option("interval", { type: "number", default: 2, describe: "Seconds between looks with --watch" }),
      async (args) => (await import("./agents.js")).runPs(args),
    )
    .command(
      "hosts",
      "List the hosts of the relay, or remove a stale one (hosts rm <id>)",
      (y) =>
        y
          .command(
            ["ls", "$0"],
            "List hosts: state, last seen, providers, agents",
            (z) => z.option("json", { type: "boolean", default: false, describe: "Print JSON" }),
            async (args) => (await import("./hosts.js")).runHosts(args),
          )
          .command(
            "rm <id>",
            "Remove a host that is gone (refused for an online host unless --force)",
            (z) =>
              z
                .positional("id", { type: "string", demandOption: true, describe: "Orchestrator id" })
                .option("force", { type: "boolean", default: false, describe: "Remove it even if it is online (it registers again unless its daemon is stopped)" }),
            async (args) => (await import("./hosts.js")).runHostsRm({ ...args, id: args.id! }),
          ),
      () => undefined,
    )
    .command(
      "stop [agent]",
      "Stop an agent (by label, session or agentId), or every agent with --all",
      (y) => targetOptions(y).option("all", { type: "boolean", default: false, describe: "Stop every agent (of --host, or of every online host)" }),
      async (args) => (await import("./agents.js")).runTargeted("shutdown", args),
    )
    .command(
      "restart <agent>",
      "Restart an agent with the same options and prompt",
      (y) => targetOptions(y),
      async (args) => (await import("./agents.js")).runTargeted("restart", args),
    )
    .command(
      "send <agent> [text]",
      "Send a message to an agent: typed when it is idle (never into a question it is blocked on); waits for delivered or expired",
      (y) =>
        messageOptions(y)
          .positional("text", { type: "string", describe: 'The text (in quotes); - reads it from stdin; after -- it is taken as is: send a -- "--text"' })
          .option("ttl", { type: "string", describe: "How long the message may wait for the agent to be idle: 90s, 10m, 1h (default: the host's, 10m)" })
          .option("timeout", { type: "number", describe: "Seconds to wait for the outcome (default: the TTL + 60)" }),
      async (args) => (await import("./messages.js")).runSend({ ...args, agent: args.agent!, value: args.text, rest: afterDashes(argv), stdin: beforeDashes(argv).includes("-") }),
    )
    .command(
      "respond <agent> [option]",
      "Answer the question an agent is blocked on (a permission prompt) with an option's label: Yes, No, or a unique prefix",
      (y) =>
        messageOptions(y)
          .positional("option", { type: "string", describe: "The label of the option to choose, as the agent shows it (ps shows the options)" })
          .option("timeout", { type: "number", default: 30, describe: "Seconds to wait for the answer" }),
      async (args) => (await import("./messages.js")).runRespond({ ...args, agent: args.agent!, value: args.option, rest: afterDashes(argv) }),
    )
    .command(
      "logs <agent>",
      "Print an agent's screen and scrollback (on the agent's own host)",
      (y) =>
        y
          .positional("agent", { type: "string", demandOption: true })
          .option("lines", { alias: "n", type: "number", default: 100, describe: "How many lines" })
          .option("follow", { alias: "f", type: "boolean", default: false, describe: "Keep printing what changes: new lines, or a redrawn screen (in place on a terminal)" })
          .option("json", { type: "boolean", default: false, describe: "Print JSON ({host, session, label, lines}; with --follow, one object a line per change)" }),
      async (args) => (await import("./local.js")).runLogs({ ...args, agent: args.agent! }),
    )
    .command(
      "attach <agent>",
      "Attach this terminal to an agent's tmux session (on the agent's own host)",
      (y) => y.positional("agent", { type: "string", demandOption: true }),
      async (args) => (await import("./local.js")).runAttach({ ...args, agent: args.agent! }),
    )
    .command(
      "doctor",
      "Check this host: tmux, each provider's binary, the relay and its token, baseDir, running as root",
      (y) => y.option("json", { type: "boolean", default: false, describe: "Print JSON" }),
      async (args) => (await import("./doctor.js")).runDoctor(args),
    )
    .command(
      "init",
      "Write a commented config file for this host",
      (y) =>
        y
          .option("path", { type: "string", describe: "Where to write it (default: ~/.agent-relay/orchestrator.config.ts)" })
          .option("force", { type: "boolean", default: false, describe: "Overwrite an existing file" }),
      async (args) => (await import("./init.js")).runInit(args),
    )
    .command(
      "config",
      "Print the resolved config and where each value came from (secrets redacted)",
      (y) => y.option("json", { type: "boolean", default: false, describe: "Print JSON" }),
      async (args) => (await import("./config.js")).runConfig(args),
    )
    .env(false)
    .strict()
    .version(VERSION)
    .alias("h", "help")
    .alias("v", "version")
    .epilogue(
      "Environment: AGENT_RELAY_URL, AGENT_RELAY_TOKEN, AGENT_RELAY_ORCHESTRATOR_ID, AGENT_RELAY_ORCHESTRATOR_HOSTNAME, " +
        "AGENT_RELAY_ORCHESTRATOR_PROVIDERS, AGENT_RELAY_ORCHESTRATOR_BASE_DIR, AGENT_RELAY_ORCHESTRATOR_CONFIG (see README).",
    )
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`${message}\nRun with --help for usage.\n`);
      process.exit(2);
    })
    .wrap(Math.min(110, process.stdout.columns || 100))
    .parseAsync();
}

function daemonOptions<T>(y: Argv<T>) {
  return y
    .option("id", { type: "string", describe: "Orchestrator id (env AGENT_RELAY_ORCHESTRATOR_ID)" })
    .option("base-dir", { type: "string", describe: "Directory agents must work inside (env AGENT_RELAY_ORCHESTRATOR_BASE_DIR)" })
    .option("stop-agents", { type: "boolean", default: false, describe: "Stop the agents too on SIGTERM/SIGINT (by default they keep running)" });
}

function serverOptions<T>(y: Argv<T>) {
  return y
    .option("port", { type: "number", describe: "Relay port; 0 takes any free port (default: 4850)" })
    .option("bind", { type: "string", describe: "Relay address; any but loopback requires a token (default: 127.0.0.1)" })
    .option("data-dir", { type: "string", describe: "Where the relay keeps its SQLite database (default: ~/.agent-relay/relay)" });
}

function messageOptions<T>(y: Argv<T>) {
  return y
    .positional("agent", { type: "string", demandOption: true, describe: "Label, tmux session or agentId" })
    .option("host", { type: "string", describe: "Only this orchestrator id" })
    .option("wait", { type: "boolean", default: true, describe: "Wait for the outcome (--no-wait to only send)" })
    .option("json", { type: "boolean", default: false, describe: "Print JSON" });
}

/** The arguments after the first `--`, exactly as given (yargs would read "0x10" there as 16). */
function afterDashes(argv: readonly string[]): string[] {
  const at = argv.indexOf("--");
  return at === -1 ? [] : argv.slice(at + 1);
}

/** The arguments before the first `--` (yargs gives a "-" there as ""). */
function beforeDashes(argv: readonly string[]): string[] {
  const at = argv.indexOf("--");
  return at === -1 ? [...argv] : argv.slice(0, at);
}

function targetOptions<T>(y: Argv<T>) {
  return y
    .positional("agent", { type: "string", describe: "Label, tmux session or agentId" })
    .option("host", { type: "string", describe: "Only this orchestrator id" })
    .option("wait", { type: "boolean", default: true, describe: "Wait for the answer (--no-wait to only send)" })
    .option("timeout", { type: "number", default: 30, describe: "Seconds to wait" })
    .option("json", { type: "boolean", default: false, describe: "Print JSON" });
}

// Output piped into `head` (or anything that stops reading) ends the command quietly, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main().catch(async (err: unknown) => {
  const { reportFatal } = await import("./fatal.js");
  process.exitCode = reportFatal(err);
});
