import { existsSync } from "node:fs";
import { resolveConfig } from "../core/config/load.js";
import { configForPlugins } from "../core/config/plugins.js";
import type { ResolvedConfig } from "../core/config/schema.js";
import type { Plugin } from "../core/plugin.js";

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
 * The config a command runs with: file, env and its own flags. When none of
 * them gives a token and the relay is on this machine, the token of the
 * local relay (`up`, `relay`), from its token file, so a second terminal
 * needs no flags. `relayTokenFile: false` skips that (the relay commands
 * settle their own token).
 */
export async function loadCliConfig(args: CommonArgs, options: { relayTokenFile?: boolean } = {}): Promise<ResolvedConfig> {
  const config = await resolveConfig(
    {},
    {
      ...(args.config !== undefined ? { configFile: args.config } : {}),
      cli: { relayUrl: args.relayUrl, id: args.id, baseDir: args.baseDir, logLevel: args.logLevel, token: args.token },
    },
  );
  if (config.token || options.relayTokenFile === false || !isLocal(config.relayUrl)) return config;
  const local = await localRelayToken(config);
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
 * The token file of the local relay: in `relayServer.dataDir` when the
 * config sets one, else in the default data dir (`~/.agent-relay/relay`).
 */
async function localRelayToken(config: ResolvedConfig): Promise<{ token: string; file: string } | undefined> {
  const { defaultRelayDataDir, readRelayToken, relayTokenFile } = await import("../plugins/relay-server/token.js");
  const configured = config.pluginOptions.relayServer?.dataDir;
  const file = relayTokenFile(typeof configured === "string" ? configured : defaultRelayDataDir());
  if (!existsSync(file)) return undefined;
  const token = readRelayToken(file);
  return token ? { token, file } : undefined;
}

/** A relay URL on this machine: the only kind a local token file is sent to. */
function isLocal(relayUrl: string): boolean {
  const host = new URL(relayUrl).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
