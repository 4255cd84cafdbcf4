import type { ResolvedConfig } from "./config/schema.js";
import type { ControlRegistry } from "./controls.js";
import { PluginError, isPluginError } from "./errors.js";
import { scopeHooks, type OrchestratorHooks } from "./hooks.js";
import type { Logger } from "./logger.js";
import type { OrchestratorApi, Plugin, PluginContext } from "./plugin.js";
import type { Provisions } from "./provisions.js";
import type { Secrets } from "./secrets.js";

/** What the core lends plugins: its hooks, what they provide, the controls they declare, the secrets they mark. */
export interface PluginHost {
  config: ResolvedConfig;
  hooks: OrchestratorHooks;
  logger: Logger;
  provided: Provisions;
  controls: ControlRegistry;
  secrets: Secrets;
  api: OrchestratorApi;
}

/**
 * The context one plugin's `apply` receives: everything is scoped to the
 * plugin (its taps, log lines and declarations carry its name). A built-in
 * gets exactly this too.
 */
export function pluginContext(plugin: Plugin, host: PluginHost): PluginContext {
  const { provided, controls } = host;
  return {
    config: host.config,
    hooks: scopeHooks(host.hooks, plugin.name),
    logger: host.logger.withTag(plugin.name),
    orchestrator: host.api,
    provideBackend: (backend) => provided.provideBackend(plugin.name, backend),
    provideTransport: (transport) => provided.provideTransport(plugin.name, transport),
    provideProvider: (provider) => provided.provideProvider(provider),
    provideControl: (declaration) => controls.declare(plugin.name, declaration as never),
    extendControl: (action, fields) => controls.extend(plugin.name, action, fields),
    onClose: (fn) => void provided.closers.push(fn),
    addSecret: (value) => host.secrets.add(value),
  };
}

/** Applies every plugin, in order, each with its own context; what one throws is stamped with its name. */
export async function applyPlugins(plugins: readonly Plugin[], host: PluginHost): Promise<void> {
  for (const plugin of plugins) {
    try {
      await plugin.apply(pluginContext(plugin, host));
    } catch (err) {
      throw isPluginError(err) ? err : new PluginError(plugin.name, "apply", err);
    }
  }
}
