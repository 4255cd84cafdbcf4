import { homedir, hostname as osHostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import type { LogLevelName } from "../logger.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The config section a plugin owns: its key in the config, the schema of its
 * options (defaults included: `config` prints them), and the environment
 * variables it binds to its keys (`{ AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET:
 * "socketName" }`; they win over the file). The core validates the section
 * with the schema (unknown keys are errors) before any plugin applies.
 */
export interface PluginConfigSpec {
  section: string;
  schema: z.ZodType;
  env?: Readonly<Record<string, string>>;
}

/**
 * A plugin as the config sees it: the shape of `Plugin` (core/plugin.ts),
 * which needs the config's types and so cannot be imported here.
 */
export interface ConfigPlugin {
  name: string;
  role?: string;
  config?: PluginConfigSpec;
  apply(ctx: never): void | Promise<void>;
}

/** A plugin entry: the object itself, a module specifier, or `[specifier, options]`. */
const pluginEntry = z.union([
  z.custom<ConfigPlugin>(
    (value) =>
      typeof value === "object" &&
      value !== null &&
      typeof (value as ConfigPlugin).name === "string" &&
      typeof (value as ConfigPlugin).apply === "function",
    { message: "expected a plugin object ({ name, apply }), a module path, or [path, options]" },
  ),
  z.string().min(1),
  z.tuple([z.string().min(1), z.unknown()]),
]);

/** The keys the core itself reads. Plugins read their own sections (see `pluginOptions`). */
const coreShape = {
  /** Orchestrator id; the relay addresses control messages to `orchestrator-<id>`. */
  id: z.string().regex(SAFE_NAME, "expected letters, digits, '.', '_' or '-'").max(128),
  hostname: z.string().min(1).max(255),
  relayUrl: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }),
  token: z.string().min(1),
  providers: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "expected a lower-case provider name")),
  baseDir: z.string().min(1),
  env: z.record(z.string().regex(ENV_NAME, "expected an environment variable name"), z.string()),
  heartbeatIntervalMs: z.number().int().min(1000).max(3_600_000),
  pollIntervalMs: z.number().int().min(50).max(600_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000),
  watchIntervalMs: z.number().int().min(100).max(60_000),
  maxMessageAgeMs: z.number().int().min(0),
  startTimeoutMs: z.number().int().min(1000).max(600_000),
  startupPollMs: z.number().int().min(5).max(5_000),
  exitedRetentionMs: z.number().int().min(0),
  /**
   * Live-state watching: how often one look at every running agent's screen
   * is taken (`tickMs`; `idleTickMs` while every agent is idle and reports
   * its own events, which wake the watcher at once), how long its events may disagree with its screen
   * before the screen wins (`disagreeMs`), and how long `working` may show
   * an unchanged screen before it counts as `stuck` (`stuckAfterMs`, 0 = never).
   */
  states: z
    .object({
      tickMs: z.number().int().min(20).max(5_000).optional(),
      idleTickMs: z.number().int().min(20).max(60_000).optional(),
      disagreeMs: z.number().int().min(0).max(600_000).optional(),
      stuckAfterMs: z.number().int().min(0).optional(),
    })
    .strict(),
  tmuxPrefix: z.string().regex(SAFE_NAME, "expected letters, digits, '.', '_' or '-'").max(32),
  stateDir: z.string().min(1),
  logLevel: z.enum(["silent", "error", "warn", "info", "debug", "trace"]),
  plugins: z.array(pluginEntry),
  disablePlugins: z.array(z.string()),
};

const pluginSection = z.record(z.string(), z.unknown(), {
  error: "unknown key (a plugin's options section must be an object)",
});

const partialCore = z.object(coreShape).partial();

/** A `hosts` entry: any config key but `hosts` itself. */
const hostOverride = partialCore.catchall(pluginSection);

export const userConfigSchema = partialCore
  .extend({ hosts: z.record(z.string().min(1), hostOverride) })
  .partial()
  .catchall(pluginSection);

type CoreKeys = z.infer<z.ZodObject<typeof coreShape>>;

/** What people write in a config file. Plugin sections (e.g. `tmux`, `claude`) are free-form here. */
export interface UserConfig extends Partial<Omit<CoreKeys, "plugins">> {
  plugins?: Array<ConfigPlugin | string | [string, unknown]>;
  /** Partial configs merged over this one on hosts whose hostname matches the pattern (`*` and `?`). */
  hosts?: Record<string, Omit<UserConfig, "hosts">>;
  [pluginSection: string]: unknown;
}

/** Where one resolved value came from. */
export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; file: string }
  | { kind: "host"; file: string; pattern: string }
  | { kind: "env"; name: string }
  | { kind: "cli"; flag: string }
  | { kind: "inline" };

/** The config the code reads: complete, validated, frozen. */
export interface ResolvedConfig extends Readonly<Omit<CoreKeys, "token" | "plugins">> {
  readonly token?: string;
  /** User plugins, loaded. Built-ins are added by `plugins/defaults.ts`. */
  readonly plugins: readonly ConfigPlugin[];
  /** The config file that was loaded, if any. */
  readonly configFile?: string;
  /** Option sections for plugins, keyed by section name. */
  readonly pluginOptions: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Where each value came from, keyed by dotted path. */
  readonly sources: Readonly<Record<string, ConfigSource>>;
}

/** Identity helper that types a config file. */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}

export const CORE_KEYS = new Set([...Object.keys(coreShape), "hosts"]);

/** Defaults of the core keys. */
export function coreDefaults(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const home = env.HOME || homedir();
  const host = osHostname();
  return {
    id: host.replace(/\./g, "-"),
    hostname: host,
    relayUrl: "http://localhost:4850",
    providers: ["claude", "codex"],
    baseDir: join(home, "projects"),
    env: {},
    heartbeatIntervalMs: 30_000,
    pollIntervalMs: 1_000,
    requestTimeoutMs: 10_000,
    watchIntervalMs: 1_000,
    maxMessageAgeMs: 10 * 60_000,
    startTimeoutMs: 30_000,
    startupPollMs: 50,
    exitedRetentionMs: 10 * 60_000,
    states: { tickMs: 250, idleTickMs: 5_000, disagreeMs: 3_000, stuckAfterMs: 10 * 60_000 },
    tmuxPrefix: "ar",
    stateDir: join(home, ".agent-relay", "state"),
    logLevel: "info" satisfies LogLevelName,
    plugins: [],
    disablePlugins: [],
  };
}

/** The full schema of the merged core keys. */
export const resolvedCoreSchema = z.object(coreShape).partial({ token: true }).passthrough();

/**
 * Validates a plugin's own options section. Errors name the section's key,
 * the offending field and what was expected.
 */
export function readPluginOptions<S extends z.ZodType>(
  config: ResolvedConfig,
  section: string,
  schema: S,
): z.infer<S> {
  const raw = config.pluginOptions[section] ?? {};
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(describeIssues(result.error, sourceLabel(config.sources[section]), section));
  }
  return result.data;
}

/** One line per problem: `<where>: <key>: <what was expected>`. */
export function describeIssues(error: z.ZodError, where: string, prefix?: string): string {
  return error.issues
    .map((issue) => {
      const key = [prefix, ...issue.path.map(String)].filter(Boolean).join(".") || "(root)";
      return `${where}: ${key}: ${issue.message}`;
    })
    .join("\n");
}

export function sourceLabel(source: ConfigSource | undefined): string {
  switch (source?.kind) {
    case "file":
      return source.file;
    case "host":
      return `${source.file} (hosts["${source.pattern}"])`;
    case "env":
      return `environment variable ${source.name}`;
    case "cli":
      return `command-line flag --${source.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`; // as typed: --relay-url
    case "inline":
      return "inline config";
    default:
      return "default";
  }
}
