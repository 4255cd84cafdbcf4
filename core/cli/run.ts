import { createLogger } from "../logger.js";
import { Orchestrator } from "../orchestrator.js";
import { loadCliConfig, type CommonArgs } from "./load.js";

/**
 * Runs the daemon until SIGTERM or SIGINT. The CLI is the composition root:
 * the one place outside `plugins/` that knows the built-in plugins.
 */
export async function runDaemon(args: CommonArgs & { stopAgents?: boolean }): Promise<void> {
  const config = await loadCliConfig(args);
  const logger = createLogger({ level: config.logLevel, secrets: () => (config.token ? [config.token] : []) });
  const { resolvePlugins } = await import("../../plugins/defaults.js");
  const orchestrator = await Orchestrator.create({ config, plugins: resolvePlugins(config), logger });
  logger.info(
    `starting ${config.id}: relay ${config.relayUrl}, baseDir ${config.baseDir}, providers ${config.providers.join(", ")}` +
      (config.configFile ? `, config ${config.configFile}` : ""),
  );
  await orchestrator.start();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping${args.stopAgents ? " (and the agents)" : "; agents keep running"}`);
    await orchestrator.stop({ stopAgents: Boolean(args.stopAgents) });
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
