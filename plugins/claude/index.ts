import { z } from "zod";
import { definePlugin, readPluginOptions, type SpawnSpec } from "../../core/index.js";

export const CLAUDE_PLUGIN = "claude";

/** The prompt 0.9.0 gave an agent spawned without one. */
export const DEFAULT_CLAUDE_PROMPT =
  "You are a headless relay agent spawned by the orchestrator. Await and respond to incoming relay messages.";

const optionsSchema = z
  .object({
    /** The `claude` binary: a path or a name in the agent's PATH. */
    bin: z.string().min(1).default("claude"),
    /** Extra arguments, placed before the prompt. */
    args: z.array(z.string()).default([]),
    /** Used when a spawn brings no prompt. */
    defaultPrompt: z.string().default(DEFAULT_CLAUDE_PROMPT),
  })
  .strict();

export type ClaudeOptions = z.input<typeof optionsSchema>;

/**
 * Launches Claude Code as 0.9.0 did: `claude [args…] <prompt>
 * --dangerously-skip-permissions`. Options come from the config's `claude`
 * section, or from the factory's argument.
 */
export function claudePlugin(overrides: ClaudeOptions = {}) {
  return definePlugin({
    name: CLAUDE_PLUGIN,
    role: `launcher:${CLAUDE_PLUGIN}`,
    apply(ctx) {
      const options = optionsSchema.parse({ ...readPluginOptions(ctx.config, "claude", optionsSchema.partial()), ...overrides });
      ctx.hooks.beforeSpawn.tap((spec: SpawnSpec) => {
        if (spec.provider !== CLAUDE_PLUGIN || spec.command.length > 0) return spec;
        const prompt = spec.prompt || options.defaultPrompt;
        return { ...spec, command: [options.bin, ...options.args, prompt, "--dangerously-skip-permissions"] };
      });
    },
  });
}
