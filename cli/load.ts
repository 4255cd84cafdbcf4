import { existsSync } from "node:fs";
import { resolveConfig } from "../core/config/load.js";
import { configForPlugins } from "../core/config/plugins.js";
import type { ResolvedConfig } from "../core/config/schema.js";
import type { Plugin } from "../core/plugin.js";
import { applyContext, contextConfigFile, readContext } from "./context.js";

/** Flags every command shares. */
export interface CommonArgs {
  config?: string | undefined;
  relayUrl?: string | undefined;
  id?: string | undefined;
  baseDir?: string | undefined;
  logLevel?: string | undefined;
  token?: string | undefined;
}

/**
 * The config a command runs with: file, env and its own flags, over the
 * local context of a running daemon (see `context.ts`: its relay URL, id,
 * tmux socket and config file), so a second terminal needs no flags. When
 * none of them gives a token and the relay is on this machine, the token of
 * the local relay from its token file (the one the context names, else the
 * default one). `relayTokenFile: false` skips both (the relay commands
 * settle their own token), and `context: false` skips the context (`run`,
 * a daemon itself).
 */
export async function loadCliConfig(args: CommonArgs, options: { relayTokenFile?: boolean; context?: boolean } = {}): Promise<ResolvedConfig> {
  const found = options.relayTokenFile === false || options.context === false ? undefined : readContext();
  const configFile = contextConfigFile(args.config, found);
  const resolved = await resolveConfig(
    {},
    {
      ...(configFile !== undefined ? { configFile } : {}),
      cli: { relayUrl: args.relayUrl, id: args.id, baseDir: args.baseDir, logLevel: args.logLevel, token: args.token },
    },
  );
  const { TMUX_SOCKET_ENV } = await import("../plugins/tmux/index.js");
  const config = applyContext(resolved, found, TMUX_SOCKET_ENV);
  if (config.token || options.relayTokenFile === false || !isLocal(config.relayUrl)) return config;
  const local = await localRelayToken(config, found?.context?.tokenFile);
  if (!local) return config;
  return Object.freeze({ ...config, token: local.token, sources: { ...config.sources, token: { kind: "file" as const, file: local.file } } });
}

/**
 * The plugins a command runs (the built-ins and the config's), and the
 * config checked against them: each plugin's environment variables bound,
 * unknown keys refused (see `configForPlugins`). The relay server's section
 * is known too, whichever command runs.
 */
export async function withPlugins(config: ResolvedConfig): Promise<{ config: ResolvedConfig; plugins: Plugin[] }> {
  const { resolvePlugins } = await import("../plugins/defaults.js");
  const { RELAY_SERVER_CONFIG } = await import("../plugins/relay-server/index.js");
  const plugins = resolvePlugins(config);
  return { config: configForPlugins(config, [...plugins, RELAY_SERVER_CONFIG]), plugins };
}

/**
 * The token file of the local relay: the one the context names, else in
 * `relayServer.dataDir` when the config sets one, else in the default data
 * dir (`~/.agent-relay/relay`).
 */
async function localRelayToken(config: ResolvedConfig, named: string | undefined): Promise<{ token: string; file: string } | undefined> {
  const { defaultRelayDataDir, readRelayToken, relayTokenFile } = await import("../plugins/relay-server/token.js");
  const configured = config.pluginOptions.relayServer?.dataDir;
  const file = named ?? relayTokenFile(typeof configured === "string" ? configured : defaultRelayDataDir());
  if (!existsSync(file)) return undefined;
  const token = readRelayToken(file);
  return token ? { token, file } : undefined;
}

/** A relay URL on this machine: the only kind a local token file is sent to. */
function isLocal(relayUrl: string): boolean {
  const host = new URL(relayUrl).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
