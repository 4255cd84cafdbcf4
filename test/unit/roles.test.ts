import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Orchestrator, createLogger, defineControl, definePlugin, isConfigError, resolveConfig, type AgentBackend, type Plugin } from "../../core/index.js";
import { builtinPlugins } from "../../plugins/defaults.js";
import { TestHome } from "../support/env.js";

// What a daemon needs of its plugins, whichever provide it: a built-in left
// out or replaced by a plugin that does not provide what it did is named at
// start (or when provided), never found out one spawn at a time.

const homes: TestHome[] = [];
afterEach(() => homes.splice(0).forEach((h) => h.remove()));

async function core(plugins: Plugin[]) {
  const home = new TestHome();
  homes.push(home);
  const config = await resolveConfig({ id: "t", baseDir: home.baseDir, stateDir: home.stateDir }, { configFile: false, env: {} });
  return { home, orchestrator: await Orchestrator.create({ config, plugins, logger: createLogger({ level: "silent" }) }) };
}

const without = (...names: string[]) => builtinPlugins().filter((p) => !names.includes(p.name));

describe("a daemon's roles", () => {
  it("a daemon missing a role refuses to start, naming each role and what a replacement must provide, before it touches anything", async () => {
    const { home, orchestrator } = await core(without("tmux", "relay-http", "controls"));
    const err = await orchestrator.start({ daemon: true }).then(() => undefined, (e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    const lines = (err as Error).message.split("\n");
    expect(lines).toEqual([
      "the daemon cannot start:",
      expect.stringMatching(/^- no plugin provides the agent backend \(role "backend"\): a replacement must call ctx\.provideBackend with start, list, stop, capture, screens, sendKeys/),
      expect.stringMatching(/^- no plugin provides the relay transport \(role "transport"\): a replacement must call ctx\.provideTransport with register, heartbeat, latestMessageId, fetchMessages, ack, report$/),
      expect.stringMatching(/^- no plugin declares the control actions spawn, restart, shutdown of protocol v2 \(role "controls"\)/),
      expect.stringMatching(/a built-in is disabled, or replaced/),
    ]);
    expect(existsSync(home.stateDir)).toBe(false);
  });

  it("names only what is missing: here one protocol action a replacement of the controls forgot", async () => {
    const partial = definePlugin({
      name: "my-controls",
      role: "controls",
      apply(ctx) {
        for (const action of ["spawn", "shutdown"]) {
          ctx.provideControl(defineControl({ action, fields: {}, key: () => "*", handle: () => ({ ok: true, action, message: "", agents: [] }) }));
        }
      },
    });
    const { orchestrator } = await core([...without("controls"), partial]);
    await expect(orchestrator.start({ daemon: true })).rejects.toThrow(/^the daemon cannot start:\n- no plugin declares the control action restart of protocol v2 \(role "controls"\)/);
  });

  it("a core that is not a daemon (tests, doctor, logs) starts with roles missing", async () => {
    const { orchestrator } = await core(without("tmux", "relay-http", "controls"));
    await orchestrator.start();
    await orchestrator.stop();
  });

  it("a backend or transport lacking methods is refused when provided, naming the plugin and the methods", async () => {
    const bare = definePlugin({ name: "bare", role: "backend", apply: (ctx) => ctx.provideBackend({ start: async () => ({}) } as unknown as AgentBackend) });
    await expect(core([bare])).rejects.toThrow(
      'plugin "bare" failed in apply: the agent backend it provides has no list, stop, capture, screens, sendKeys (it must have the methods start, list, stop, capture, screens, sendKeys)',
    );
  });
});
