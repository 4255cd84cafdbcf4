import { z } from "zod";
import { ConfigError, readPluginOptions, sourceLabel, type ConfigOwner, type ResolvedConfig } from "../../core/index.js";
import type { RelayServerOptions } from "./server.js";
import { checkTokenLength, defaultRelayDataDir, ensureRelayToken } from "./token.js";

export { RelayServer, RELAY_EXTENSIONS, isLoopback, type RelayServerOptions } from "./server.js";
export { defaultRelayDataDir, relayTokenFile, readRelayToken, MIN_TOKEN_LENGTH } from "./token.js";

const optionsSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(4850),
    bind: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).optional(),
    /** Silence after which a host that announces no heartbeat interval (a 0.9.0 daemon) is offline; others: three missed heartbeats. */
    offlineAfterMs: z.number().int().min(1000).default(90_000),
    /** Forget hosts that have been offline for longer than this (default: keep them until `hosts rm`). */
    forgetOfflineHostsAfterMs: z.number().int().min(0).optional(),
    maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
    /** One token per orchestrator id: that daemon can then act only as itself. Keep this file owner-only. */
    hostTokens: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), z.string().min(16, "expected a token of 16 characters or more")).optional(),
    /** Host tokens may list every host and agent record (by default each reads only its own). */
    hostTokensReadAll: z.boolean().default(false),
    /** `Host` header values to accept besides loopback names and the bound address (a proxy's name): `name` or `name:port`. */
    allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, "expected a host name, optionally with :port")).optional(),
    /** A token that logs a browser in to the dashboard read-only (default: generated into `<dataDir>/viewer-token`). */
    viewerToken: z.string().min(16, "expected a token of 16 characters or more").optional(),
    rateLimit: z.object({ perSecond: z.number().positive(), burst: z.number().int().min(1) }).strict().optional(),
  })
  .strict();

export type RelayServerConfigOptions = z.input<typeof optionsSchema>;

/**
 * The relay server is not a plugin: the `relay` and `up` commands start a
 * `RelayServer` themselves (before the daemon, so a port of 0 is known) and
 * close it last. It owns the config section `relayServer`, declared here so
 * that the config check knows its keys.
 */
export const RELAY_SERVER_CONFIG: ConfigOwner = { name: "relay-server", config: { section: "relayServer", schema: optionsSchema } };

/**
 * The relay's options: the config's `relayServer` section, then `overrides`
 * (command-line flags), then defaults. The relay never runs open: the token
 * is the config's (refused when short), else the relay's own, generated on
 * first start into `<dataDir>/token` (owner-only) and named by `tokenFile`.
 * The dashboard's viewer token likewise: the config's, else `<dataDir>/viewer-token`.
 */
export function serverOptions(
  config: ResolvedConfig,
  overrides: z.input<typeof optionsSchema> = {},
  warn?: (text: string) => void,
): RelayServerOptions & { token: string; tokenFile?: string } {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const parsed = optionsSchema.safeParse({ ...readPluginOptions(config, "relayServer", optionsSchema.partial()), ...defined });
  if (!parsed.success) {
    // A flag's value (`--port abc`) is a config error like a file's: exit 2, naming the flag, before anything listens.
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      const where = key in defined ? `command-line flag --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : sourceLabel(config.sources[`relayServer.${key}`] ?? config.sources.relayServer);
      return `${where}: relayServer.${issue.path.join(".")}: ${issue.message}`;
    });
    throw new ConfigError(problems.join("\n"));
  }
  const options = parsed.data;
  const dataDir = options.dataDir ?? defaultRelayDataDir();
  const viewerToken = options.viewerToken ?? ensureRelayToken(dataDir, warn, "viewer-token").token;
  if (config.token) {
    checkTokenLength(config.token, sourceLabel(config.sources.token));
    return { ...options, dataDir, viewerToken, token: config.token };
  }
  const own = ensureRelayToken(dataDir, warn);
  return { ...options, dataDir, viewerToken, token: own.token, tokenFile: own.file };
}
