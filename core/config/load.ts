import { existsSync, statSync } from "node:fs";
import { homedir, hostname as osHostname } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { ConfigError, errorMessage, isConfigError } from "../errors.js";
import type { Plugin } from "../plugin.js";
import { hint } from "./plugins.js";
import {
  CORE_KEYS,
  coreDefaults,
  describeIssues,
  resolvedCoreSchema,
  sourceLabel,
  userConfigSchema,
  type ConfigSource,
  type ResolvedConfig,
  type UserConfig,
} from "./schema.js";

export interface ResolveOptions {
  /** A path to load, `false` for none, or undefined to discover one. */
  configFile?: string | false;
  /** Where discovery starts; defaults to the working directory. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already mapped to config keys. */
  cli?: Record<string, unknown>;
}

/** The 0.9.0 environment variables (and a few of ours) and the core keys they set; plugins bind their own (`PluginConfigSpec.env`). */
export const ENV_KEYS: ReadonlyArray<{ name: string; key: string; list?: true; number?: true }> = [
  { name: "AGENT_RELAY_URL", key: "relayUrl" },
  { name: "AGENT_RELAY_TOKEN", key: "token" },
  { name: "AGENT_RELAY_ORCHESTRATOR_ID", key: "id" },
  { name: "AGENT_RELAY_ORCHESTRATOR_HOSTNAME", key: "hostname" },
  { name: "AGENT_RELAY_ORCHESTRATOR_PROVIDERS", key: "providers", list: true },
  { name: "AGENT_RELAY_ORCHESTRATOR_BASE_DIR", key: "baseDir" },
  { name: "AGENT_RELAY_ORCHESTRATOR_STATE_DIR", key: "stateDir" },
  { name: "AGENT_RELAY_ORCHESTRATOR_LOG_LEVEL", key: "logLevel" },
  { name: "AGENT_RELAY_ORCHESTRATOR_POLL_INTERVAL_MS", key: "pollIntervalMs", number: true },
];

/** Names a config file may have, searched from the working directory up. */
export const SEARCH_PLACES = [
  "package.json",
  ".orchestratorrc",
  ".orchestratorrc.json",
  ".orchestratorrc.yaml",
  ".orchestratorrc.yml",
  "orchestrator.config.ts",
  "orchestrator.config.mts",
  "orchestrator.config.js",
  "orchestrator.config.mjs",
  "orchestrator.config.json",
];

/** What `~/.agent-relay/` may hold; `orchestrator.json` is the 0.9.0 file. */
export const HOME_PLACES = [
  "orchestrator.config.ts",
  "orchestrator.config.mts",
  "orchestrator.config.js",
  "orchestrator.config.mjs",
  "orchestrator.config.json",
  "orchestrator.json",
];

/**
 * Builds the config the daemon runs with. Layers, later wins: defaults, the
 * config file (or `inline`), its `hosts` entries that match this host,
 * environment variables, command-line flags.
 */
export async function resolveConfig(inline: UserConfig = {}, options: ResolveOptions = {}): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = await loadConfigFile(options.configFile, cwd, env);
  const fileConfig = file ? validateUserConfig(file.config, file.path) : {};
  const inlineConfig = validateUserConfig(inline, "inline config");
  const fileSource: ConfigSource = file ? { kind: "file", file: file.path } : { kind: "inline" };

  const merged: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  mergeLayer(merged, coreDefaults(env), { kind: "default" }, sources);
  mergeLayer(merged, omitHosts(fileConfig), fileSource, sources);
  mergeLayer(merged, omitHosts(inlineConfig), { kind: "inline" }, sources);

  const envLayer = readEnv(env);
  const hostname =
    (envLayer.values.hostname as string | undefined) ?? (merged.hostname as string | undefined) ?? osHostname();
  for (const [layer, where] of [
    [fileConfig, file?.path ?? "inline config"],
    [inlineConfig, "inline config"],
  ] as const) {
    for (const [pattern, override] of Object.entries(layer.hosts ?? {})) {
      if (matchesHost(pattern, hostname)) {
        mergeLayer(merged, override as Record<string, unknown>, { kind: "host", file: where, pattern }, sources);
      }
    }
  }
  for (const [key, value] of Object.entries(envLayer.values)) {
    setPath(merged, key, value);
    sources[key] = { kind: "env", name: envLayer.names[key]! };
  }
  for (const [key, value] of Object.entries(options.cli ?? {})) {
    if (value === undefined) continue;
    setPath(merged, key, value);
    sources[key] = { kind: "cli", flag: key };
  }

  const core = resolvedCoreSchema.safeParse(pick(merged, CORE_KEYS));
  if (!core.success) {
    const issue = core.error.issues[0]!;
    const key = issue.path.map(String).join(".");
    throw new ConfigError(describeIssues(core.error, sourceLabel(sources[key] ?? sources[String(issue.path[0])])));
  }
  const base = dirname(file?.path ?? join(cwd, "inline"));
  const plugins = await loadPlugins(
    (merged.plugins as UserConfig["plugins"]) ?? [],
    base,
    sourceLabel(sources.plugins),
  );

  const pluginOptions: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const [key, value] of Object.entries(merged)) {
    if (!CORE_KEYS.has(key)) pluginOptions[key] = Object.freeze({ ...(value as Record<string, unknown>) });
  }
  const home = env.HOME || homedir();
  return Object.freeze({
    ...(core.data as Omit<ResolvedConfig, "plugins" | "pluginOptions" | "sources" | "configFile">),
    baseDir: expandHome(core.data.baseDir, home),
    stateDir: expandHome(core.data.stateDir, home),
    plugins: Object.freeze(plugins),
    pluginOptions: Object.freeze(pluginOptions),
    sources: Object.freeze(sources),
    ...(file ? { configFile: file.path } : {}),
  });
}

/**
 * Finds and loads the config file: an explicit path (`--config`, or
 * `AGENT_RELAY_ORCHESTRATOR_CONFIG`), else the nearest one from `cwd` up
 * (see `searchDirs`: never above the home directory, never from a directory
 * someone else could have written it into), else `~/.agent-relay/`.
 */
export async function loadConfigFile(
  configFile: string | false | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ path: string; config: unknown } | undefined> {
  if (configFile === false) return undefined;
  const { cosmiconfig } = await import("cosmiconfig");
  const explorer = cosmiconfig("orchestrator", { loaders: await moduleLoaders(), searchStrategy: "none", cache: false });
  const load = async (path: string) => {
    checkTrusted(path);
    const result = await explorer.load(path);
    return result && !result.isEmpty ? { path, config: result.config } : undefined;
  };
  const explicit = configFile ?? (env.AGENT_RELAY_ORCHESTRATOR_CONFIG || undefined);
  const home = env.HOME || homedir();
  try {
    if (explicit) {
      const path = resolve(cwd, explicit);
      if (!existsSync(path)) {
        // 0.9.0 treated a missing file as "no file"; keep that for its env variable only.
        if (configFile === undefined) return undefined;
        throw new ConfigError(`config file not found: ${path}`);
      }
      return (await load(path)) ?? { path, config: {} };
    }
    for (const dir of searchDirs(cwd, home)) {
      // package.json#orchestrator counts only in the directory the command runs in.
      for (const name of dir === resolve(cwd) ? SEARCH_PLACES : SEARCH_PLACES.filter((n) => n !== "package.json")) {
        const path = join(dir, name);
        if (!existsSync(path)) continue;
        const found = await load(path);
        if (found) return found;
      }
    }
    for (const name of HOME_PLACES) {
      const path = join(home, ".agent-relay", name);
      if (existsSync(path)) return await load(path);
    }
    return undefined;
  } catch (err) {
    if (isConfigError(err)) throw err;
    throw new ConfigError(`cannot load config: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The directories searched for a config file, nearest first: from `cwd` up
 * to the home directory when `cwd` is inside it; elsewhere up to (not
 * including) the first directory that is not this user's own or that others
 * may write to (`/tmp`, a shared checkout), where anyone could have put one.
 */
export function searchDirs(cwd: string, home: string): string[] {
  const dirs: string[] = [];
  const homeDir = resolve(home);
  const inHome = (dir: string) => dir === homeDir || dir.startsWith(homeDir.endsWith(sep) ? homeDir : homeDir + sep);
  const bounded = inHome(resolve(cwd));
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (!bounded && untrustedDir(dir)) break;
    dirs.push(dir);
    if ((bounded && dir === homeDir) || dir === dirname(dir)) break;
  }
  return dirs;
}

function untrustedDir(dir: string): boolean {
  try {
    const info = statSync(dir);
    const uid = process.getuid?.();
    return (uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0;
  } catch {
    return true;
  }
}

const CODE_FILE = /\.(c|m)?(j|t)s$/;

/**
 * A config file runs as the daemon (code directly; JSON and YAML through the
 * plugins they name): it must be this user's own and writable by no one else.
 */
function checkTrusted(path: string): void {
  const info = statSync(path);
  const uid = process.getuid?.();
  const what = CODE_FILE.test(path) ? "a code config file" : "a config file";
  if (uid !== undefined && info.uid !== uid) {
    throw new ConfigError(`${path}: refusing to load ${what} owned by uid ${info.uid}, not by this user (uid ${uid}); it would run as the daemon (chown it, or pass --config with a file of your own)`);
  }
  if ((info.mode & 0o022) !== 0) {
    throw new ConfigError(`${path}: refusing to load ${what} that group or others may write (mode ${(info.mode & 0o777).toString(8)}); run: chmod go-w ${path}`);
  }
}

/** Checks a config file's content; errors name the file, the key and what was expected. */
export function validateUserConfig(config: unknown, where: string): UserConfig {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new ConfigError(`${where}: expected the config to be an object (export default defineConfig({...}))`);
  }
  const result = userConfigSchema.safeParse(config);
  if (!result.success) throw new ConfigError(describeIssues(withCoreHints(result.error), where));
  return result.data as UserConfig;
}

/** A top-level key that is not the core's and not a section (`providres: [...]`): named with the nearest core key. */
function withCoreHints(error: z.ZodError): z.ZodError {
  for (const issue of error.issues) {
    const key = issue.path.at(-1);
    const topLevel = issue.path.length === 1 || (issue.path.length === 3 && issue.path[0] === "hosts");
    if (!topLevel || typeof key !== "string" || CORE_KEYS.has(key)) continue;
    const near = hint(key, [...CORE_KEYS].filter((k) => issue.path.length === 1 || k !== "hosts"));
    if (near) (issue as { message: string }).message = `unknown key${near}`;
  }
  return error;
}

/** `*` matches any run of characters, `?` one; case-insensitive, whole name. */
export function matchesHost(pattern: string, hostname: string): boolean {
  const source = pattern
    .split("")
    .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`, "i").test(hostname);
}

/** Code config files load through jiti, which is only brought in when one is found (it costs memory). */
async function moduleLoaders() {
  let jiti: import("jiti").Jiti | undefined;
  const load = async (filepath: string) => {
    jiti ??= (await import("jiti")).createJiti(import.meta.url, { interopDefault: true, moduleCache: false, fsCache: false, alias: selfAlias() });
    return jiti.import(filepath, { default: true });
  };
  return { ".ts": load, ".mts": load, ".cts": load, ".js": load, ".mjs": load, ".cjs": load };
}

/**
 * `import … from "agent-relay-orchestrator"` (and `/plugins`) in a config
 * file or a plugin it names gets this running copy of the package, wherever
 * the file is (`~/.agent-relay/` has no node_modules): its built entry
 * points, or the sources when running from them.
 */
export function selfAlias(): Record<string, string> {
  // Built, this file is dist/core/config/load.js; from the sources (tests), core/config/load.ts next to dist/.
  const entry = (fromBuilt: string, inDist: string) => {
    const built = fileURLToPath(new URL(fromBuilt, import.meta.url));
    const dist = fileURLToPath(new URL(`../../dist/${inDist}`, import.meta.url));
    return [built, dist].find((path) => existsSync(path)) ?? built.replace(/\.js$/, ".ts");
  };
  return {
    "agent-relay-orchestrator/plugins": entry("../../plugins/index.js", "plugins/index.js"),
    "agent-relay-orchestrator": entry("../index.js", "core/index.js"),
  };
}

async function loadPlugins(entries: NonNullable<UserConfig["plugins"]>, base: string, where: string): Promise<Plugin[]> {
  const plugins: Plugin[] = [];
  let jiti: import("jiti").Jiti | undefined;
  for (const entry of entries) {
    if (typeof entry === "object" && !Array.isArray(entry)) {
      plugins.push(entry);
      continue;
    }
    const [specifier, options] = typeof entry === "string" ? [entry, undefined] : entry;
    jiti ??= (await import("jiti")).createJiti(join(base, "orchestrator.config.ts"), {
      interopDefault: true,
      moduleCache: false,
      fsCache: false,
      alias: selfAlias(),
    });
    let exported: unknown;
    try {
      const mod = (await jiti.import(specifier)) as Record<string, unknown>;
      exported = mod.default ?? mod.plugin ?? mod;
    } catch (err) {
      throw new ConfigError(`${where}: plugins: cannot load "${specifier}" (from ${base}): ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const plugin = typeof exported === "function" ? await (exported as (o: unknown) => unknown)(options) : exported;
    if (!isPlugin(plugin)) {
      throw new ConfigError(
        `${where}: plugins: "${specifier}" must export a plugin ({ name, apply }) or a function returning one`,
      );
    }
    plugins.push(plugin);
  }
  return plugins;
}

function isPlugin(value: unknown): value is Plugin {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Plugin).name === "string" &&
    typeof (value as Plugin).apply === "function"
  );
}

function readEnv(env: NodeJS.ProcessEnv) {
  const values: Record<string, unknown> = {};
  const names: Record<string, string> = {};
  for (const { name, key, list, number } of ENV_KEYS) {
    const raw = env[name];
    if (!raw) continue;
    values[key] = list
      ? raw.split(",").map((s) => s.trim()).filter(Boolean)
      : number
        ? Number(raw)
        : raw;
    names[key] = name;
  }
  return { values, names };
}

/** Merges `layer` into `target`, recording the source of every leaf. */
function mergeLayer(
  target: Record<string, unknown>,
  layer: Record<string, unknown>,
  source: ConfigSource,
  sources: Record<string, ConfigSource>,
  prefix = "",
): void {
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value) && key !== "hosts") {
      const existing = target[key];
      const next = isPlainObject(existing) ? existing : {};
      target[key] = next;
      if (!sources[path]) sources[path] = source;
      mergeLayer(next, value, source, sources, path);
    } else {
      target[key] = value;
      sources[path] = source;
    }
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function omitHosts(config: UserConfig): Record<string, unknown> {
  const { hosts: _hosts, ...rest } = config;
  return rest;
}

function pick(source: Record<string, unknown>, keys: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(source).filter(([key]) => keys.has(key) && key !== "hosts"));
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(path);
}
