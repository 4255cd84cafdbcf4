import { z } from "zod";
import { definePlugin, readPluginOptions, type SpawnSpec } from "../../core/index.js";

export const CODEX_PLUGIN = "codex";

const optionsSchema = z
  .object({
    /** The launcher binary; 0.9.0 ran the `codex-relay` bridge. */
    bin: z.string().min(1).default("codex-relay"),
    /** Extra arguments, placed after 0.9.0's own. */
    args: z.array(z.string()).default([]),
  })
  .strict();

export type CodexOptions = z.input<typeof optionsSchema>;

/**
 * Launches Codex agents as 0.9.0 did: `codex-relay --headless --relay-url
 * <relayUrl> [args…]`, with `AGENT_RELAY_CODEX_HEADLESS=1`. Options come
 * from the config's `codex` section, or from the factory's argument.
 */
export function codexPlugin(overrides: CodexOptions = {}) {
  return definePlugin({
    name: CODEX_PLUGIN,
    role: `launcher:${CODEX_PLUGIN}`,
    apply(ctx) {
      const options = optionsSchema.parse({ ...readPluginOptions(ctx.config, "codex", optionsSchema.partial()), ...overrides });
      ctx.hooks.beforeSpawn.tap((spec: SpawnSpec) => {
        if (spec.provider !== CODEX_PLUGIN || spec.command.length > 0) return spec;
        return {
          ...spec,
          command: [options.bin, "--headless", "--relay-url", ctx.config.relayUrl, ...options.args],
          env: { ...spec.env, AGENT_RELAY_CODEX_HEADLESS: "1" },
        };
      });
    },
  });
}
