import { Orchestrator } from "../core/orchestrator.js";
import { Secrets } from "../core/secrets.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";
import { saveDaemonContext } from "./context.js";
import { loggerFor } from "./log.js";
import { configLine, startOrExit, untilSignal } from "./serve.js";

/**
 * Runs the daemon until SIGTERM or SIGINT. The CLI is the composition root:
 * the one place outside `plugins/` that knows the built-in plugins.
 */
export async function runDaemon(args: CommonArgs & { stopAgents?: boolean }): Promise<void> {
  const { config, plugins } = await withPlugins(await loadCliConfig(args, { context: false }));
  const secrets = new Secrets();
  const logger = loggerFor(config, secrets);
  logger.info(configLine(config));
  const orchestrator = await Orchestrator.create({ config, plugins, logger, secrets });
  logger.info(`starting ${config.id}: relay ${config.relayUrl}, baseDir ${config.baseDir}, providers ${config.providers.join(", ")}`);
  await startOrExit(orchestrator);
  await saveDaemonContext("run", config, { relayUrl: config.relayUrl }, logger);
  untilSignal(orchestrator, logger, Boolean(args.stopAgents));
}
