import { createLogger, type Logger } from "../logger.js";
import { Orchestrator } from "../orchestrator.js";
import type { ResolvedConfig } from "../config/schema.js";
import { loadCliConfig, type CommonArgs } from "./load.js";

export interface ServeArgs extends CommonArgs {
  port?: number;
  bind?: string;
  dataDir?: string;
  stopAgents?: boolean;
}

/** `relay`: the relay server alone, in a core that has only the relay-server plugin. */
export async function runRelay(args: ServeArgs): Promise<void> {
  const config = await loadCliConfig(args, { relayTokenFile: false });
  const secrets: string[] = [];
  const logger = loggerFor(config, secrets);
  const { relayServerPlugin } = await import("../../plugins/relay-server/index.js");
  const { server, token } = await startServer(args, config, logger);
  secrets.push(token);
  const orchestrator = await Orchestrator.create({ config, plugins: [relayServerPlugin({ server })], logger });
  await orchestrator.start();
  process.stdout.write(`relay ${server.url}\n`);
  untilSignal(orchestrator, logger, false);
}

/** `up`: a relay and a daemon in one process; the daemon talks to this relay. */
export async function runUp(args: ServeArgs): Promise<void> {
  const base = await loadCliConfig(args, { relayTokenFile: false });
  const secrets: string[] = [];
  const logger = loggerFor(base, secrets);
  const { relayServerPlugin } = await import("../../plugins/relay-server/index.js");
  const { server, token } = await startServer(args, base, logger);
  secrets.push(token);
  const local = server.url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  // The daemon in this process speaks to its relay with the relay's token (its own, when none is configured).
  const config = await loadCliConfig({ ...args, relayUrl: local, token }, { relayTokenFile: false });
  const { resolvePlugins } = await import("../../plugins/defaults.js");
  const orchestrator = await Orchestrator.create({
    config,
    plugins: [...resolvePlugins(config), relayServerPlugin({ server })],
    logger,
  });
  await orchestrator.start();
  process.stdout.write(`relay ${server.url}\n`);
  untilSignal(orchestrator, logger, Boolean(args.stopAgents));
}

/**
 * Starts the relay first, so a port of 0 is known before the daemon needs the
 * URL. Its token is the configured one, else its own from the token file;
 * the log names that file, never the token.
 */
async function startServer(args: ServeArgs, config: ResolvedConfig, logger: Logger) {
  const { RelayServer, serverOptions } = await import("../../plugins/relay-server/index.js");
  const relayLogger = logger.withTag("relay-server");
  const { tokenFile, ...options } = serverOptions(config, { port: args.port, bind: args.bind, dataDir: args.dataDir }, (text) => relayLogger.warn(text));
  const server = new RelayServer({ ...options, logger: relayLogger });
  await server.listen();
  if (tokenFile) relayLogger.info(`relay token in ${tokenFile} (owner-only; local CLI commands read it from there)`);
  return { server, token: options.token };
}

export function loggerFor(config: ResolvedConfig, extraSecrets: string[] = []): Logger {
  return createLogger({ level: config.logLevel, secrets: () => (config.token ? [config.token, ...extraSecrets] : extraSecrets) });
}

/** Runs until SIGTERM or SIGINT, then stops the core (and the agents only if asked). */
export function untilSignal(orchestrator: Orchestrator, logger: Logger, stopAgents: boolean): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping${stopAgents ? " (and the agents)" : ""}`);
    await orchestrator.stop({ stopAgents });
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
