import { Orchestrator, Secrets, createLogger, resolveConfig, type Plugin, type UserConfig } from "../../core/index.js";
import { builtinPlugins, resolvePlugins } from "../../plugins/defaults.js";
import { envPolicyPlugin } from "../../plugins/env-policy/index.js";
import type { TestHome } from "./env.js";

export interface Harness {
  orchestrator: Orchestrator;
  logs: string[];
}

/**
 * The built-in plugins, less those named in `without` (a test puts its own in
 * their place), with the env policy reading `home.env()` rather than this
 * process's environment.
 */
export function testBuiltins(home: TestHome, options: { without?: string[]; env?: Record<string, string> } = {}): Plugin[] {
  const source = home.env(options.env);
  return builtinPlugins()
    .filter((p) => !options.without?.includes(p.name))
    .map((p) => (p.name === "env-policy" ? envPolicyPlugin({ source }) : p));
}

/**
 * A real core with the built-in plugins, in this process, configured inline
 * (no config file is searched). The env policy reads `home.env()` rather
 * than this process's environment.
 */
export async function createTestOrchestrator(
  home: TestHome,
  config: UserConfig,
  options: { builtins?: Plugin[]; env?: Record<string, string> } = {},
): Promise<Harness> {
  const env = home.env(options.env);
  const resolved = await resolveConfig(
    { id: "test", baseDir: home.baseDir, stateDir: home.stateDir, logLevel: "debug", pollIntervalMs: 100, watchIntervalMs: 200, ...config },
    { configFile: false, env },
  );
  const logs: string[] = [];
  const secrets = new Secrets([resolved.token]);
  const logger = createLogger({ level: resolved.logLevel, write: (line) => logs.push(line), secrets: () => secrets });
  const builtins = options.builtins ?? testBuiltins(home, options);
  const orchestrator = await Orchestrator.create({ config: resolved, plugins: resolvePlugins(resolved, builtins), logger, secrets });
  return { orchestrator, logs };
}
