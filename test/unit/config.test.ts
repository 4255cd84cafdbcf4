import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, Orchestrator, createLogger, resolveConfig } from "../../core/index.js";
import { builtinPlugins, resolvePlugins } from "../../plugins/defaults.js";
import { FIXTURES } from "../support/env.js";

const CONFIG = join(FIXTURES, "config");
const emptyHome = () => mkdtempSync(join(tmpdir(), "aro-home-"));

describe("config discovery and layering", () => {
  it("finds orchestrator.config.ts from a subdirectory, with defineConfig, plugin paths relative to the file", async () => {
    const config = await resolveConfig({}, { cwd: join(CONFIG, "ts-project", "sub", "deeper"), env: { HOME: emptyHome() } });
    expect(config.configFile).toBe(join(CONFIG, "ts-project", "orchestrator.config.ts"));
    expect(config).toMatchObject({ id: "ts-host", providers: ["claude"], baseDir: "/srv/agents", heartbeatIntervalMs: 15_000, env: { TEAM: "core" } });
    expect(config.pluginOptions.claude).toEqual({ bin: "/opt/claude/bin/claude", args: ["--model", "opus"] });
    expect(config.plugins.map((p) => p.name)).toEqual(["greeter", "greeter-factory"]);
    expect(config.sources.id).toEqual({ kind: "file", file: config.configFile });
    expect(config.sources.pollIntervalMs).toEqual({ kind: "default" });

    // the loaded plugins really run, with the factory's options
    const orchestrator = await Orchestrator.create({ config, plugins: config.plugins, logger: createLogger({ level: "silent" }) });
    const info = { kind: "register" as const, meta: {} as Record<string, unknown> };
    await orchestrator.hooks.onHeartbeat.promise(info);
    expect(info.meta).toEqual({ greeting: "hello", factoryGreeting: "hej" });
  });

  it("reads the 0.9.0 file ~/.agent-relay/orchestrator.json with its keys", async () => {
    const config = await resolveConfig({}, { cwd: tmpdir(), env: { HOME: join(CONFIG, "legacy-home") } });
    expect(config.configFile).toBe(join(CONFIG, "legacy-home", ".agent-relay", "orchestrator.json"));
    expect(config).toMatchObject({
      id: "legacy-box",
      hostname: "legacy-box.example",
      relayUrl: "http://127.0.0.1:4850",
      token: "legacy-secret-token",
      providers: ["claude", "codex"],
      baseDir: "/home/u/projects",
      env: { GITHUB_TOKEN: "ghp_legacy" },
      heartbeatIntervalMs: 20_000,
      tmuxPrefix: "ar",
    });
  });

  it("lets every 0.9.0 environment variable override the file, and records it as the source", async () => {
    const config = await resolveConfig(
      {},
      {
        cwd: tmpdir(),
        env: {
          HOME: join(CONFIG, "legacy-home"),
          AGENT_RELAY_URL: "http://127.0.0.1:9999",
          AGENT_RELAY_TOKEN: "env-token",
          AGENT_RELAY_ORCHESTRATOR_ID: "env-id",
          AGENT_RELAY_ORCHESTRATOR_HOSTNAME: "env-host",
          AGENT_RELAY_ORCHESTRATOR_PROVIDERS: "codex, claude",
          AGENT_RELAY_ORCHESTRATOR_BASE_DIR: "/tmp/env-base",
        },
      },
    );
    expect(config).toMatchObject({
      relayUrl: "http://127.0.0.1:9999",
      token: "env-token",
      id: "env-id",
      hostname: "env-host",
      providers: ["codex", "claude"],
      baseDir: "/tmp/env-base",
    });
    expect(config.sources.relayUrl).toEqual({ kind: "env", name: "AGENT_RELAY_URL" });
    expect(config.heartbeatIntervalMs).toBe(20_000); // still from the file
  });

  it("loads the file named by AGENT_RELAY_ORCHESTRATOR_CONFIG, and --config over it", async () => {
    const env = { HOME: emptyHome(), AGENT_RELAY_ORCHESTRATOR_CONFIG: join(CONFIG, "rc-project", ".orchestratorrc") };
    expect((await resolveConfig({}, { cwd: tmpdir(), env })).id).toBe("rc-host");
    const explicit = await resolveConfig({}, { cwd: tmpdir(), env, configFile: join(CONFIG, "pkg-project", "package.json") });
    expect(explicit).toMatchObject({ id: "pkg-host", tmuxPrefix: "pk" });
    await expect(resolveConfig({}, { cwd: tmpdir(), env, configFile: "/nonexistent/orchestrator.config.ts" })).rejects.toThrow(
      "config file not found: /nonexistent/orchestrator.config.ts",
    );
  });

  it("finds an rc file and a package.json key", async () => {
    expect((await resolveConfig({}, { cwd: join(CONFIG, "rc-project"), env: { HOME: emptyHome() } })).providers).toEqual(["codex"]);
    expect((await resolveConfig({}, { cwd: join(CONFIG, "pkg-project"), env: { HOME: emptyHome() } })).id).toBe("pkg-host");
  });

  it("merges the hosts entries that match this hostname, in order, over the base config", async () => {
    const cwd = join(CONFIG, "ts-project");
    const build7 = await resolveConfig({}, { cwd, env: { HOME: emptyHome(), AGENT_RELAY_ORCHESTRATOR_HOSTNAME: "BUILD-7" } });
    expect(build7).toMatchObject({ providers: ["claude", "codex"], env: { TEAM: "build" }, baseDir: "/srv/build7", tmuxPrefix: "ar" });
    expect(build7.sources.baseDir).toEqual({ kind: "host", file: join(cwd, "orchestrator.config.ts"), pattern: "build-7" });
    const gpu = await resolveConfig({}, { cwd, env: { HOME: emptyHome(), AGENT_RELAY_ORCHESTRATOR_HOSTNAME: "gpu-1" } });
    expect(gpu).toMatchObject({ tmuxPrefix: "gpu", providers: ["claude"], baseDir: "/srv/agents" });
    const other = await resolveConfig({}, { cwd, env: { HOME: emptyHome(), AGENT_RELAY_ORCHESTRATOR_HOSTNAME: "gpu-12" } });
    expect(other.tmuxPrefix).toBe("ar");
  });

  it("names the file, the key and what was expected when the config is wrong", async () => {
    const file = join(CONFIG, "bad-project", "orchestrator.config.json");
    const err = await resolveConfig({}, { cwd: join(CONFIG, "bad-project"), env: { HOME: emptyHome() } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(`${file}: heartbeatIntervalMs: Invalid input: expected number, received string`);

    const typo = join(mkdtempSync(join(tmpdir(), "aro-cfg-")), "orchestrator.config.json");
    writeFileSync(typo, JSON.stringify({ relayURL: "http://x" }));
    await expect(resolveConfig({}, { configFile: typo, env: {} })).rejects.toThrow(`${typo}: relayURL: unknown key`);

    await expect(resolveConfig({}, { configFile: false, env: { AGENT_RELAY_URL: "ftp://nope" } })).rejects.toThrow(
      "environment variable AGENT_RELAY_URL: relayUrl: expected an http(s) URL",
    );
    await expect(resolveConfig({ plugins: ["./missing-plugin.ts"] }, { configFile: false, env: {} })).rejects.toThrow(
      /plugins: cannot load "\.\/missing-plugin\.ts"/,
    );
  });
});

describe("plugin composition", () => {
  const names = (config: Parameters<typeof resolvePlugins>[0]) => resolvePlugins(config).map((p) => p.name);

  it("applies the built-ins by default, in a fixed order", async () => {
    const config = await resolveConfig({}, { configFile: false, env: {} });
    expect(names(config)).toEqual(builtinPlugins().map((p) => p.name));
    expect(names(config)).toEqual(["env-policy", "tmux", "claude", "codex", "relay-http", "controls", "restart-policy", "messages"]);
  });

  it("replaces a built-in by name or by role in place, appends others, and disables by name", async () => {
    const mine = { name: "claude", apply() {} };
    const docker = { name: "docker", role: "backend", apply() {} };
    const extra = { name: "metrics", apply() {} };
    const config = await resolveConfig({ plugins: [mine, docker, extra], disablePlugins: ["codex"] }, { configFile: false, env: {} });
    const plugins = resolvePlugins(config);
    expect(plugins.map((p) => p.name)).toEqual(["env-policy", "docker", "claude", "relay-http", "controls", "restart-policy", "messages", "metrics"]);
    expect(plugins[2]).toBe(mine);
    const wrong = await resolveConfig({ disablePlugins: ["codx"] }, { configFile: false, env: {} });
    expect(() => resolvePlugins(wrong)).toThrow('disablePlugins: no plugin is named "codx"');
  });
});
