import { sourceLabel, type ConfigSource, type ResolvedConfig } from "../config/schema.js";
import { loadCliConfig, type CommonArgs } from "./load.js";

const SECRET_KEY = /token|secret|password|passwd|credential|api_?key|private_?key/i;

/** Prints every resolved value with its source; secrets show as "***". */
export async function runConfig(args: CommonArgs & { json?: boolean }): Promise<void> {
  const config = await loadCliConfig(args);
  const rows = flatten(config);
  if (args.json) {
    const out = Object.fromEntries(rows.map(([key, value, source]) => [key, { value, source: describe(source) }]));
    process.stdout.write(JSON.stringify({ configFile: config.configFile ?? null, values: out }, null, 2) + "\n");
    return;
  }
  process.stdout.write(`# config file: ${config.configFile ?? "(none found)"}\n`);
  const width = Math.max(...rows.map(([key]) => key.length));
  for (const [key, value, source] of rows) {
    process.stdout.write(`${key.padEnd(width)} = ${JSON.stringify(value)}  # ${describe(source)}\n`);
  }
}

function flatten(config: ResolvedConfig): Array<[string, unknown, ConfigSource | undefined]> {
  const rows: Array<[string, unknown, ConfigSource | undefined]> = [];
  const { sources, pluginOptions, plugins, configFile: _file, ...core } = config;
  const visit = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [key, inner] of Object.entries(value)) visit(`${prefix}.${key}`, inner);
      return;
    }
    const leaf = prefix.split(".").at(-1)!;
    const secret = SECRET_KEY.test(leaf) && value !== undefined && value !== "";
    rows.push([prefix, secret ? "***" : value, sourceOf(sources, prefix)]);
  };
  for (const [key, value] of Object.entries({ ...core, ...pluginOptions })) visit(key, value);
  rows.push(["plugins", plugins.map((p) => p.name), sources.plugins]);
  return rows.sort(([a], [b]) => a.localeCompare(b));
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
