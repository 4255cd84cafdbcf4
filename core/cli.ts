#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { VERSION } from "./version.js";

/**
 * The command line. Commands load what they need when they run, so `--help`
 * and `--version` stay fast. Logs go to stderr, data to stdout.
 */
export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName("agent-relay-orchestrator")
    .usage("$0 [command] [options]\n\nHost daemon for Agent Relay: registers this host with a relay and runs AI coding agents in tmux.")
    .option("config", {
      type: "string",
      describe: "Config file to load (default: discovered, or $AGENT_RELAY_ORCHESTRATOR_CONFIG)",
    })
    .command(
      ["run", "$0"],
      "Run the daemon (the default command)",
      (y) =>
        y
          .option("relay-url", { type: "string", describe: "Relay base URL (env AGENT_RELAY_URL)" })
          .option("id", { type: "string", describe: "Orchestrator id (env AGENT_RELAY_ORCHESTRATOR_ID)" })
          .option("base-dir", { type: "string", describe: "Directory agents must work inside (env AGENT_RELAY_ORCHESTRATOR_BASE_DIR)" })
          .option("log-level", {
            type: "string",
            choices: ["silent", "error", "warn", "info", "debug", "trace"],
            describe: "How much to log on stderr",
          })
          .option("stop-agents", {
            type: "boolean",
            default: false,
            describe: "Stop the agents too on SIGTERM/SIGINT (by default they keep running)",
          }),
      async (args) => {
        const { runDaemon } = await import("./cli/run.js");
        await runDaemon(args);
      },
    )
    .command(
      "init",
      "Write a commented config file for this host",
      (y) =>
        y
          .option("path", { type: "string", describe: "Where to write it (default: ~/.agent-relay/orchestrator.config.ts)" })
          .option("force", { type: "boolean", default: false, describe: "Overwrite an existing file" }),
      async (args) => {
        const { runInit } = await import("./cli/init.js");
        await runInit(args);
      },
    )
    .command(
      "config",
      "Print the resolved config and where each value came from (secrets redacted)",
      (y) => y.option("json", { type: "boolean", default: false, describe: "Print JSON" }),
      async (args) => {
        const { runConfig } = await import("./cli/config.js");
        await runConfig(args);
      },
    )
    .env(false)
    .strict()
    .version(VERSION)
    .alias("h", "help")
    .alias("v", "version")
    .epilogue(
      "Environment: AGENT_RELAY_URL, AGENT_RELAY_TOKEN, AGENT_RELAY_ORCHESTRATOR_ID, AGENT_RELAY_ORCHESTRATOR_HOSTNAME,\n" +
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

main().catch(async (err: unknown) => {
  const { reportFatal } = await import("./cli/fatal.js");
  process.exitCode = reportFatal(err);
});
