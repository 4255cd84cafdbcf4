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
  const config = await loadCliConfig(args);
  const logger = loggerFor(config);
  const { relayServerPlugin } = await import("../../plugins/relay-server/index.js");
  const orchestrator = await Orchestrator.create({ config, plugins: [relayServerPlugin(serverOptions(args))], logger });
  await orchestrator.start();
  untilSignal(orchestrator, logger, false);
}

/** `up`: a relay and a daemon in one process; the daemon talks to this relay. */
export async function runUp(args: ServeArgs): Promise<void> {
  const base = await loadCliConfig(args);
  const logger = loggerFor(base);
  const { RelayServer, relayServerPlugin, defaultDataDir } = await import("../../plugins/relay-server/index.js");
  const server = new RelayServer({
    port: args.port ?? 4850,
    bind: args.bind ?? "127.0.0.1",
    dataDir: args.dataDir ?? defaultDataDir(),
    ...(base.token ? { token: base.token } : {}),
    logger: logger.withTag("relay-server"),
  });
  const url = await server.listen();
  const local = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  const config = await loadCliConfig({ ...args, relayUrl: local });
  const { resolvePlugins } = await import("../../plugins/defaults.js");
  const orchestrator = await Orchestrator.create({
    config,
    plugins: [...resolvePlugins(config), relayServerPlugin({ server })],
    logger,
  });
  await orchestrator.start();
  process.stdout.write(`relay ${url}\n`);
  untilSignal(orchestrator, logger, Boolean(args.stopAgents));
}

function serverOptions(args: ServeArgs) {
  return {
    ...(args.port !== undefined ? { port: args.port } : {}),
    ...(args.bind !== undefined ? { bind: args.bind } : {}),
    ...(args.dataDir !== undefined ? { dataDir: args.dataDir } : {}),
  };
}

export function loggerFor(config: ResolvedConfig): Logger {
  return createLogger({ level: config.logLevel, secrets: () => (config.token ? [config.token] : []) });
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
