import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { definePlugin, readPluginOptions, type ResolvedConfig } from "../../core/index.js";
import { RelayServer, type RelayServerOptions } from "./server.js";

export { RelayServer, RELAY_EXTENSIONS, isLoopback, type RelayServerOptions } from "./server.js";

export const RELAY_SERVER_PLUGIN = "relay-server";

const optionsSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(4850),
    bind: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).optional(),
    offlineAfterMs: z.number().int().min(1000).default(90_000),
    maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
    /** One token per orchestrator id: that daemon can then act only as itself. Keep this file owner-only. */
    hostTokens: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), z.string().min(16, "expected a token of 16 characters or more")).optional(),
    rateLimit: z.object({ perSecond: z.number().positive(), burst: z.number().int().min(1) }).strict().optional(),
  })
  .strict();

export type RelayServerPluginOptions = z.input<typeof optionsSchema> & {
  /** An already listening server to adopt (the `up` command starts it first to learn its port). */
  server?: RelayServer;
};

/**
 * Runs an Agent Relay server inside the daemon's process: the `relay` and
 * `up` commands add this plugin. Options from the config's `relayServer`
 * section, overridden by the factory's argument. The token is the config's.
 */
export function relayServerPlugin(overrides: RelayServerPluginOptions = {}) {
  return definePlugin({
    name: RELAY_SERVER_PLUGIN,
    role: "relay-server",
    async apply(ctx) {
      const { server: given, ...rest } = overrides;
      let server = given;
      if (!server) {
        server = new RelayServer({ ...serverOptions(ctx.config, rest), logger: ctx.logger });
        await server.listen();
      }
      ctx.logger.info(`relay listening on ${server.url}`);
      const running = server;
      ctx.onClose(() => running.close());
    },
  });
}

/**
 * The relay's options: the config's `relayServer` section, then `overrides`
 * (command-line flags), then defaults. The token is the config's own.
 */
export function serverOptions(config: ResolvedConfig, overrides: z.input<typeof optionsSchema> = {}): RelayServerOptions {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const options = optionsSchema.parse({ ...readPluginOptions(config, "relayServer", optionsSchema.partial()), ...defined });
  return {
    ...options,
    dataDir: options.dataDir ?? join(process.env.HOME || homedir(), ".agent-relay", "relay"),
    ...(config.token ? { token: config.token } : {}),
  };
}
