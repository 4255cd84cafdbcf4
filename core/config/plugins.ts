import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { CORE_KEYS, describeIssues, sourceLabel, type ConfigPlugin, type ConfigSource, type ResolvedConfig } from "./schema.js";

/** What owns a config section: a plugin, or a component the CLI runs (the relay server). */
export type ConfigOwner = Pick<ConfigPlugin, "name" | "config">;

/**
 * The config for a known list of plugins: each plugin's environment
 * variables bound into its section (over the file), and every key checked.
 * A top-level key that is neither the core's nor a plugin's section, and a
 * key inside a section that its plugin's schema does not have, are errors
 * naming the file, the key and the nearest known key ("did you mean").
 */
export function configForPlugins(
  config: ResolvedConfig,
  plugins: readonly ConfigOwner[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const owners = new Map<string, ConfigOwner>();
  for (const plugin of plugins) {
    const section = plugin.config?.section;
    if (!section) continue;
    const other = owners.get(section);
    if (other) throw new ConfigError(`plugins "${other.name}" and "${plugin.name}" both declare the config section "${section}"`);
    if (CORE_KEYS.has(section)) throw new ConfigError(`plugin "${plugin.name}" declares the config section "${section}", a core key`);
    owners.set(section, plugin);
  }

  const pluginOptions: Record<string, Record<string, unknown>> = {};
  for (const [section, options] of Object.entries(config.pluginOptions)) pluginOptions[section] = { ...options };
  const sources: Record<string, ConfigSource> = { ...config.sources };
  for (const [section, plugin] of owners) {
    for (const [name, key] of Object.entries(plugin.config?.env ?? {})) {
      const value = env[name];
      if (!value) continue;
      pluginOptions[section] = { ...pluginOptions[section], [key]: value };
      sources[`${section}.${key}`] = { kind: "env", name };
    }
  }

  const problems: string[] = [];
  const known = [...CORE_KEYS, ...owners.keys()];
  for (const [section, options] of Object.entries(pluginOptions)) {
    const where = sourceLabel(sources[section] ?? firstSource(sources, section));
    const plugin = owners.get(section);
    if (!plugin) {
      problems.push(`${where}: ${section}: unknown key${hint(section, known)}`);
      continue;
    }
    const result = strict(plugin.config!.schema).safeParse(options);
    if (!result.success) problems.push(describeIssues(withHints(result.error, plugin.config!.schema), where, section));
  }
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return Object.freeze({ ...config, pluginOptions: Object.freeze(pluginOptions), sources: Object.freeze(sources) });
}

/** A section's values when the config sets none: its schema's defaults (the `config` command prints them). */
export function sectionDefaults(plugin: ConfigOwner): Record<string, unknown> {
  const result = plugin.config?.schema.safeParse({});
  return result?.success && isRecord(result.data) ? result.data : {};
}

/** The source of the first key under `section` (a section set only key by key). */
function firstSource(sources: Readonly<Record<string, ConfigSource>>, section: string): ConfigSource | undefined {
  const key = Object.keys(sources).find((k) => k.startsWith(`${section}.`));
  return key ? sources[key] : undefined;
}

/** The schema with unknown keys refused, where it is an object that allows them. */
function strict(schema: z.ZodType): z.ZodType {
  const strictFn = (schema as unknown as { strict?: () => z.ZodType }).strict;
  return typeof strictFn === "function" ? strictFn.call(schema) : schema;
}

/** Zod's "unrecognized key" issues, each with the nearest key the schema has at that place. */
function withHints(error: z.ZodError, schema: z.ZodType): z.ZodError {
  for (const issue of error.issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const shape = shapeAt(schema, issue.path);
    const keys = issue.keys.map((key) => `"${key}"${shape ? hint(key, Object.keys(shape)) : ""}`);
    (issue as { message: string }).message = `unknown key${issue.keys.length > 1 ? "s" : ""} ${keys.join(", ")}`;
  }
  return error;
}

/** The object shape of a schema at a path, through optional/default wrappers and arrays. */
function shapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let node: unknown = schema;
  const unwrap = () => {
    for (let i = 0; i < 5; i++) {
      const def = (node as { def?: { innerType?: unknown; element?: unknown } }).def;
      if (def?.innerType) node = def.innerType;
      else break;
    }
  };
  unwrap();
  for (const part of path) {
    const def = (node as { def?: { element?: unknown } }).def;
    if (typeof part === "number" && def?.element) node = def.element;
    else node = (node as { shape?: Record<string, unknown> }).shape?.[String(part)];
    if (!node) return undefined;
    unwrap();
  }
  const shape = (node as { shape?: unknown }).shape;
  return isRecord(shape) ? shape : undefined;
}

/** ` (did you mean "x"?)` when a known name is close to `name`. */
export function hint(name: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean "${best}"?)` : "";
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
