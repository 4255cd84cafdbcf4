import { definePlugin } from "../../core/index.js";

/**
 * A launcher for tests: provider `shell` runs the argv given in the spawn's
 * prompt (JSON), so a test decides exactly what the agent process does.
 */
export const shellProvider = definePlugin({
  name: "shell-provider",
  role: "launcher:shell",
  apply(ctx) {
    ctx.hooks.beforeSpawn.tap((spec) => {
      if (spec.provider !== "shell") return spec;
      return { ...spec, command: JSON.parse(spec.prompt ?? '["sleep","600"]') as string[] };
    });
  },
});
