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

/**
 * A backend whose agents show claude's ready screen at once and exit on
 * Ctrl-C; it records each started spec. With `failEvery` (n), every n-th start
 * fails once as a transient backend failure would (the control is tried again).
 */
export function readyBackend(started: SpawnSpec[], options: { failEvery?: number; failures?: string[] } = {}) {
  return definePlugin({
    name: "recording-backend",
    role: "backend",
    apply(ctx) {
      const live = new Set<string>();
      let calls = 0;
      const backend: AgentBackend = {
        async start(spec) {
          if (options.failEvery && ++calls % options.failEvery === 0) {
            options.failures?.push(spec.sessionName);
            throw new Error("server exited unexpectedly");
          }
          started.push(spec);
          live.add(spec.sessionName);
          return { pid: 1 };
        },
        async list() {
          return [...live].map((name) => ({ name, dead: false }));
        },
        async stop(name) {
          live.delete(name);
        },
        async capture() {
          return [];
        },
        async screens(names) {
          // claude's ready screen, for every live session
          return new Map(names.filter((n) => live.has(n)).map((n) => [n, { lines: ["─".repeat(30), "❯ ", "─".repeat(30)], dead: false }]));
        },
        async sendKeys(name, keys) {
          if (keys.includes("C-c")) live.delete(name); // the agent exits when asked
        },
      };
      ctx.provideBackend(backend);
    },
  });
}
