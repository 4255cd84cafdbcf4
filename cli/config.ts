import { sectionDefaults, type ConfigOwner } from "../core/config/plugins.js";
import { sourceLabel, type ConfigSource, type ResolvedConfig } from "../core/config/schema.js";
import { isSecretName, safeJson } from "../core/text.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";

/**
 * Prints every resolved value with its source, plugins' defaults included
 * (from the schema each plugin declares); secrets show as "***".
 */
export async function runConfig(args: CommonArgs & { json?: boolean }): Promise<void> {
  const { config, plugins } = await withPlugins(await loadCliConfig(args));
  const { RELAY_SERVER_CONFIG } = await import("../plugins/relay-server/index.js");
  const rows = flatten(config, [...plugins, RELAY_SERVER_CONFIG]);
  if (args.json) {
    const out = Object.fromEntries(rows.map(([key, value, source]) => [key, { value, source: describe(source) }]));
    process.stdout.write(safeJson({ configFile: config.configFile ?? null, values: out }, 2) + "\n");
    return;
  }
  process.stdout.write(`# config file: ${config.configFile ?? "(none found)"}\n`);
  const width = Math.max(...rows.map(([key]) => key.length));
  for (const [key, value, source] of rows) {
    process.stdout.write(`${key.padEnd(width)} = ${safeJson(value)}  # ${describe(source)}\n`);
  }
}

function flatten(config: ResolvedConfig, owners: readonly ConfigOwner[]): Array<[string, unknown, ConfigSource | undefined]> {
  const rows: Array<[string, unknown, ConfigSource | undefined]> = [];
  const { sources, pluginOptions, plugins, configFile: _file, ...core } = config;
  const visit = (prefix: string, value: unknown, source?: ConfigSource) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [key, inner] of Object.entries(value)) visit(`${prefix}.${key}`, inner, source);
      return;
    }
    // A list of objects (`notifications.targets`), item by item: their secret-looking keys are redacted too.
    if (Array.isArray(value) && value.some((item) => item !== null && typeof item === "object")) {
      value.forEach((item, i) => visit(`${prefix}.${i}`, item, source));
      return;
    }
    // A secret-looking name anywhere on the path (`token`, `relayServer.hostTokens.<id>`, `env.DB_PASSWORD`).
    const secret = prefix.split(".").some(isSecretName) && value !== undefined && value !== "" && typeof value !== "boolean";
    rows.push([prefix, secret ? "***" : hidePasswords(value), source ?? sourceOf(sources, prefix)]);
  };
  for (const [key, value] of Object.entries({ ...core, ...pluginOptions })) visit(key, value);
  // What each section's schema gives for the keys the config leaves out.
  for (const owner of owners) {
    const section = owner.config?.section;
    if (!section) continue;
    const given = pluginOptions[section] ?? {};
    for (const [key, value] of Object.entries(sectionDefaults(owner))) {
      if (!(key in given) && value !== undefined) visit(`${section}.${key}`, value, { kind: "default" });
    }
  }
  rows.push(["plugins", plugins.map((p) => p.name), sources.plugins]);
  return rows.sort(([a], [b]) => a.localeCompare(b));
}

/** A URL's password (`http://user:pass@host`) shown as `***`, in strings and lists of strings. */
function hidePasswords(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hidePasswords);
  if (typeof value !== "string" || !value.includes("@")) return value;
  try {
    const url = new URL(value);
    if (!url.password) return value;
    url.password = "***";
    return url.toString();
  } catch {
    return value;
  }
}

function sourceOf(sources: Readonly<Record<string, ConfigSource>>, path: string): ConfigSource | undefined {
  for (let key = path; key; key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "") {
    if (sources[key]) return sources[key];
  }
  return undefined;
}

function describe(source: ConfigSource | undefined): string {
  if (!source) return "default";
  return source.kind === "default" ? "default" : `${source.kind}: ${sourceLabel(source)}`;
}
