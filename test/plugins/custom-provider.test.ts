import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Orchestrator, createLogger, resolveConfig } from "../../core/index.js";
import { builtinPlugins, resolvePlugins } from "../../plugins/defaults.js";
import { envPolicyPlugin } from "../../plugins/env-policy/index.js";
import { FIXTURES, TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

const homes: TestHome[] = [];
const servers: TestTmux[] = [];
const cores: Orchestrator[] = [];
afterEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  servers.splice(0).forEach((t) => t.kill());
  homes.splice(0).forEach((h) => h.remove());
});

describe("a custom provider from examples/, loaded by an orchestrator.config.ts", () => {
  it("starts, reaches its ready screen, gets its prompt typed, reports ready, and stops with its own keys", async () => {
    const home = new TestHome();
    const tmux = new TestTmux();
    homes.push(home);
    servers.push(tmux);
    const env = home.env();
    const config = await resolveConfig(
      { id: "t", baseDir: home.baseDir, stateDir: home.stateDir, logLevel: "silent", tmux: { socketName: tmux.socketName }, disablePlugins: ["relay-http"] },
      { configFile: join(FIXTURES, "config", "custom-provider", "orchestrator.config.ts"), env },
    );
    expect(config.providers).toEqual(["claude", "python"]);
    const builtins = builtinPlugins().map((p) => (p.name === "env-policy" ? envPolicyPlugin({ source: env }) : p));
    const orchestrator = await Orchestrator.create({ config, plugins: resolvePlugins(config, builtins), logger: createLogger({ level: "silent" }) });
    cores.push(orchestrator);
    await orchestrator.start();
    expect([...orchestrator.providers().keys()].sort()).toEqual(["claude", "codex", "python"]);

    const { agent } = await orchestrator.spawn({ provider: "python", label: "calc", prompt: "print(6 * 7)" });
    expect(agent).toMatchObject({ provider: "python", session: "ar-python-calc", status: "ready" });
    await waitFor("the answer on screen", () => tmux.screen("ar-python-calc").split("\n").includes("42"));

    await orchestrator.stopAgent(agent);
    expect(tmux.sessions()).toEqual([]);
  });
});
