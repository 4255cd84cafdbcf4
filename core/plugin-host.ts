import type { ResolvedConfig } from "./config/schema.js";
import type { ControlRegistry } from "./controls.js";
import { ConfigError, PluginError, isPluginError } from "./errors.js";
import { scopeHooks, type OrchestratorHooks } from "./hooks.js";
import type { Logger } from "./logger.js";
import type { OrchestratorApi, Plugin, PluginContext } from "./plugin.js";
import { BACKEND_METHODS, TRANSPORT_METHODS, type Provisions } from "./provisions.js";
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
    redact: (value) => host.secrets.redactDeep(value),
  };
}

/** The control actions of protocol v2: a daemon must have a declaration of each. */
export const PROTOCOL_CONTROLS = ["spawn", "restart", "shutdown"] as const;

/**
 * What a daemon (a core that runs agents for a relay) needs of its plugins,
 * checked at start: a backend, a transport and the protocol's control
 * actions, whichever plugins provide them. A built-in disabled, or replaced
 * by a plugin that does not provide what it did, would otherwise be a silent
 * loss (spawns failing one by one, no controls arriving, the protocol's
 * actions answered `unknown_action`). Throws `ConfigError` naming the role
 * and what a replacement must provide.
 */
export function checkDaemonRoles(host: Pick<PluginHost, "provided" | "controls">): void {
  const missing: string[] = [];
  if (!host.provided.backend) {
    missing.push(
      `no plugin provides the agent backend (role "backend"): a replacement must call ctx.provideBackend with ${BACKEND_METHODS.join(", ")} ` +
        "(list() must give back the record start() was given, or agents are not recovered after a restart)",
    );
  }
  if (!host.provided.transport) {
    missing.push(`no plugin provides the relay transport (role "transport"): a replacement must call ctx.provideTransport with ${TRANSPORT_METHODS.join(", ")}`);
  }
  const undeclared = PROTOCOL_CONTROLS.filter((action) => host.controls.ownerOf(action) === undefined);
  if (undeclared.length > 0) {
    missing.push(
      `no plugin declares the control action${undeclared.length > 1 ? "s" : ""} ${undeclared.join(", ")} of protocol v2 (role "controls"): ` +
        "a replacement must declare each with ctx.provideControl(defineControl({ action, fields, key, handle }))",
    );
  }
  if (missing.length > 0) {
    throw new ConfigError(`the daemon cannot start:\n${missing.map((line) => `- ${line}`).join("\n")}\n(a built-in is disabled, or replaced by a plugin that does not provide what it did)`);
  }
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
