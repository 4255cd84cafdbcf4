import { definePlugin, type AgentBackend, type SpawnSpec } from "../../core/index.js";

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

/**
 * A backend that records finished specs instead of starting processes: for
 * tests of what plugins put in a spec. Its sessions show as already ended.
 */
export function recordingBackend(started: SpawnSpec[]) {
  return definePlugin({
    name: "recording-backend",
    role: "backend",
    apply(ctx) {
      const backend: AgentBackend = {
        async start(spec) {
          started.push(spec);
          return { pid: 4242 };
        },
        async list() {
          return [];
        },
        async stop() {},
        async capture() {
          return [];
        },
        async screens(names) {
          return new Map(names.map((name) => [name, { lines: [], dead: true, exitCode: 0 }]));
        },
        async sendKeys() {},
      };
      ctx.provideBackend(backend);
    },
  });
}
