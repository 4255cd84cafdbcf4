import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { definePlugin, readPluginOptions } from "../../core/index.js";
import { RelayServer } from "./server.js";

export { RelayServer, RELAY_EXTENSIONS, isLoopback } from "./server.js";

export const RELAY_SERVER_PLUGIN = "relay-server";

const optionsSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(4850),
    bind: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).optional(),
    offlineAfterMs: z.number().int().min(1000).default(90_000),
    maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
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
        const options = optionsSchema.parse({ ...readPluginOptions(ctx.config, "relayServer", optionsSchema.partial()), ...rest });
        server = new RelayServer({
          ...options,
          dataDir: options.dataDir ?? defaultDataDir(),
          ...(ctx.config.token ? { token: ctx.config.token } : {}),
          logger: ctx.logger,
        });
        await server.listen();
      }
      ctx.logger.info(`relay listening on ${server.url}`);
      const running = server;
      ctx.onClose(() => running.close());
    },
  });
}

export function defaultDataDir(): string {
  return join(process.env.HOME || homedir(), ".agent-relay", "relay");
}
