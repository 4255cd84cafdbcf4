import type { Logger } from "../core/logger.js";
import { loggerFor } from "./log.js";
import { Orchestrator } from "../core/orchestrator.js";
import { Secrets } from "../core/secrets.js";
import type { ResolvedConfig } from "../core/config/schema.js";
import { saveDaemonContext } from "./context.js";
import { CliError } from "./fatal.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";

export interface ServeArgs extends CommonArgs {
  port?: number;
  bind?: string;
  dataDir?: string;
  stopAgents?: boolean;
}

/**
 * `relay`: the relay server alone. The relay server is not a plugin: this
 * command and `up` start it and close it, no daemon core is involved.
 */
export async function runRelay(args: ServeArgs): Promise<void> {
  const { config } = await withPlugins(await loadCliConfig(args, { relayTokenFile: false }));
  const secrets = new Secrets();
  const logger = loggerFor(config, secrets);
  const { server } = await startServer(args, config, logger, secrets);
  process.stdout.write(`relay ${server.url}\n`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

/** `up`: a relay and a daemon in one process; the daemon talks to this relay. */
export async function runUp(args: ServeArgs): Promise<void> {
  const base = await loadCliConfig(args, { relayTokenFile: false });
  const secrets = new Secrets();
  const logger = loggerFor(base, secrets);
  logger.info(configLine(base));
  await withPlugins(base); // a config mistake stops the command before the relay starts
  const { server, token, tokenFile } = await startServer(args, base, logger, secrets);
  const local = server.url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  // The daemon in this process speaks to its relay with the relay's token (its own, when none is configured).
  const { config, plugins } = await withPlugins(await loadCliConfig({ ...args, relayUrl: local, token }, { relayTokenFile: false }));
  const orchestrator = await Orchestrator.create({ config, plugins, logger, secrets });
  await startOrExit(orchestrator);
  await saveDaemonContext("up", config, { relayUrl: local, tokenFile }, logger);
  process.stdout.write(`relay ${server.url}\n`);
  // The doctor's checks, after the start (they take a moment): what would fail is a warning now, not at the first spawn.
  void import("./doctor.js").then(({ warnFailedChecks }) => warnFailedChecks(orchestrator, config, logger));
  untilSignal(orchestrator, logger, Boolean(args.stopAgents), () => server.close());
}

/**
 * Starts the relay first, so a port of 0 is known before the daemon needs the
 * URL. Its token is the configured one, else its own from the token file;
 * the log names that file, never the token.
 */
async function startServer(args: ServeArgs, config: ResolvedConfig, logger: Logger, secrets: Secrets) {
  const { RelayServer, serverOptions, relayTokenFile } = await import("../plugins/relay-server/index.js");
  const relayLogger = logger.withTag("relay-server");
  const { tokenFile, ...options } = serverOptions(config, { port: args.port, bind: args.bind, dataDir: args.dataDir }, (text) => relayLogger.warn(text));
  // The relay's tokens are never logged, answered or reported, whoever echoes them.
  for (const token of [options.token, options.viewerToken, ...Object.values(options.hostTokens ?? {})]) secrets.add(token);
  const server = new RelayServer({ ...options, logger: relayLogger });
  await server.listen().catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EADDRINUSE") throw err;
    const { describePortOwner } = await import("./port-owner.js");
    throw new CliError(await describePortOwner(options.bind ?? "127.0.0.1", options.port ?? 4850));
  });
  relayLogger.info(`relay listening on ${server.url}`);
  if (tokenFile) relayLogger.info(`relay token in ${tokenFile} (owner-only; local CLI commands read it from there)`);
  relayLogger.info(`dashboard at ${server.url}/ (log in with the relay token, or read-only with the viewer token in ${relayTokenFile(options.dataDir, "viewer-token")} unless relayServer.viewerToken is set)`);
  return { server, token: options.token, tokenFile };
}

/** The line `up` and `run` start with: the config file they loaded, or that they loaded none. */
export function configLine(config: ResolvedConfig): string {
  return config.configFile ? `config: ${config.configFile}` : "config: no config file (defaults, environment and flags only)";
}

/** Starts a daemon; one that cannot (another daemon holds its id's lock, say) says why and exits at once. */
export async function startOrExit(orchestrator: Orchestrator): Promise<void> {
  try {
    await orchestrator.start({ daemon: true }); // a backend, a transport and the protocol's controls, or it says what is missing
  } catch (err) {
    const { reportFatal } = await import("./fatal.js");
    process.exit(reportFatal(err)); // the relay server, if any, must not keep the process alive
  }
}

/**
 * Runs until SIGTERM or SIGINT, then stops the core (and the agents only if
 * asked), then `after` (the relay server of `up`, closed once the daemon is done with it).
 */
export function untilSignal(orchestrator: Orchestrator, logger: Logger, stopAgents: boolean, after?: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping${stopAgents ? " (and the agents)" : ""}`);
    if (!stopAgents) {
      const running = orchestrator.agents().filter((a) => a.status !== "exited" && a.status !== "stopping");
      if (running.length > 0) logger.info(keepRunningNote(running.map((a) => a.session)));
    }
    await orchestrator.stop({ stopAgents });
    await after?.();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  void orchestrator.failed.then(async () => {
    if (stopping) return;
    stopping = true;
    await orchestrator.stop({ stopAgents: false }); // the agents stay: the daemon that owns the id may be this host's next one
    await after?.();
    process.exit(1);
  });
}

/** What Ctrl-C of a daemon says about the agents it leaves running: that they do, and how to stop them. */
function keepRunningNote(sessions: string[]): string {
  const shown = sessions.length > 5 ? `${sessions.slice(0, 5).join(", ")}, …` : sessions.join(", ");
  return (
    `${sessions.length} agent${sessions.length === 1 ? " keeps" : "s keep"} running (${shown}): ` +
    "to stop them, start the daemon again and run `agent-relay-orchestrator stop --all`; or start it with --stop-agents to stop them with it"
  );
}
