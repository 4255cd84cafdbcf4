import { Orchestrator } from "../core/orchestrator.js";
import { Secrets } from "../core/secrets.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";
import { loggerFor, startOrExit, untilSignal } from "./serve.js";

/**
 * Runs the daemon until SIGTERM or SIGINT. The CLI is the composition root:
 * the one place outside `plugins/` that knows the built-in plugins.
 */
export async function runDaemon(args: CommonArgs & { stopAgents?: boolean }): Promise<void> {
  const { config, plugins } = await withPlugins(await loadCliConfig(args));
  const secrets = new Secrets();
  const logger = loggerFor(config, secrets);
  const orchestrator = await Orchestrator.create({ config, plugins, logger, secrets });
  logger.info(
    `starting ${config.id}: relay ${config.relayUrl}, baseDir ${config.baseDir}, providers ${config.providers.join(", ")}` +
      (config.configFile ? `, config ${config.configFile}` : ""),
  );
  await startOrExit(orchestrator);
  untilSignal(orchestrator, logger, Boolean(args.stopAgents));
}
