import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The dependency rules of the layers (see the README's Architecture section),
 * checked over the TypeScript sources; type-only imports count too.
 *
 * - `core/**` imports nothing from `plugins/**` or `cli/**`.
 * - A plugin (`plugins/<name>/**`) imports only the package's public API
 *   (`core/index.ts`) and files inside its own folder. `plugins/defaults.ts`
 *   and `plugins/index.ts` are the composition and may import every plugin.
 * - No import cycles.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const LAYERS = ["core", "plugins", "cli"];
const COMPOSITION = new Set(["plugins/defaults.ts", "plugins/index.ts"]);
/** Cycles that another change removes; each pair as `a ⇄ b`, sorted. None left. */
const KNOWN_CYCLES = new Set<string>([]);

/** Every relative import of a file (static, re-export, dynamic, type-only), as repository paths. */
export function importsOf(file: string, source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specifiers = [
    ...code.matchAll(/\b(?:import|export)\s+(?:type\s+)?[^;]*?\bfrom\s*["']([^"']+)["']/g),
    ...code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
    ...code.matchAll(/^\s*import\s+["']([^"']+)["']/gm),
  ].map((m) => m[1]!);
  return specifiers
    .filter((s) => s.startsWith("."))
    .map((s) => join(dirname(file), s).replace(/\.js$/, ".ts"));
}

/** What breaks the rules in a set of files (path → source): one line per problem. */
export function checkLayers(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const edges = new Map<string, string[]>();
  for (const [file, source] of files) {
    const targets = importsOf(file, source);
    edges.set(file, targets.filter((t) => files.has(t)));
    for (const target of targets) {
      const problem = ruleBroken(file, target);
      if (problem) problems.push(`${file} imports ${target}: ${problem}`);
    }
  }
  for (const cycle of cycles(edges)) {
    const pair = cycle.length === 2 ? [...cycle].sort().join(" ⇄ ") : "";
    if (!KNOWN_CYCLES.has(pair)) problems.push(`import cycle among ${cycle.join(", ")}`);
  }
  return problems;
}

function ruleBroken(file: string, target: string): string | undefined {
  if (file.startsWith("core/")) {
    return target.startsWith("core/") ? undefined : "core imports nothing outside core/";
  }
  if (file.startsWith("plugins/") && !COMPOSITION.has(file)) {
    const own = file.split("/").slice(0, 2).join("/") + "/";
    if (target === "core/index.ts" || target.startsWith(own)) return undefined;
    return `a plugin imports only the public API (core/index.ts) and its own folder (${own})`;
  }
  if (COMPOSITION.has(file)) {
    return target === "core/index.ts" || target.startsWith("plugins/") ? undefined : "the composition imports the public API and plugins only";
  }
  return undefined;
}

/** The import cycles: each group of files (strongly connected component) that reach each other. */
function cycles(edges: ReadonlyMap<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of edges.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.reverse());
    }
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** The built-ins the core must not name in code (documentation may). */
const BUILT_IN_NAMES = /tmux|claude|codex/i;
/**
 * Names the core keeps for now, each fixed by an outside format: `tmuxPrefix`
 * is a key of 0.9.0's config file (PROTOCOL.md), and the default `providers`
 * are 0.9.0's. Renaming either is a user-visible change of its own.
 */
const KEPT_NAMES: ReadonlyArray<{ file?: string; text: string }> = [
  { text: "tmuxPrefix" },
  { file: "core/config/schema.ts", text: 'providers: ["claude", "codex"]' },
];

/** Where core code (comments left out) names a built-in: one line per mention, `file:line: text`. */
export function builtInMentions(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, source] of files) {
    if (!file.startsWith("core/")) continue;
    const code = source.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, " ")).replace(/(^|\s)\/\/.*$/gm, "$1");
    code.split("\n").forEach((line, i) => {
      let rest = line;
      for (const kept of KEPT_NAMES) if (!kept.file || kept.file === file) rest = rest.split(kept.text).join("");
      if (BUILT_IN_NAMES.test(rest)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

function sources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        files.set(relative(ROOT, path), readFileSync(path, "utf8"));
      }
    }
  };
  for (const layer of LAYERS) walk(join(ROOT, layer));
  return files;
}

describe("layers", () => {
  it("core, plugins and cli keep the dependency rules, without import cycles", () => {
    expect(checkLayers(sources())).toEqual([]);
  });

  it("the CLI reaches the relay through the admin client, not through the daemon's transport", async () => {
    const { RelayHttpClient } = await import("../../plugins/relay-http/client.js");
    const { RelayAdminClient } = await import("../../plugins/relay-http/admin-client.js");
    const importers = [...sources()].filter(([file, source]) => file.startsWith("cli/") && importsOf(file, source).includes("plugins/relay-http/client.ts"));
    expect(importers.map(([file]) => file)).toEqual([]);
    for (const method of ["sendControl", "result", "hosts"]) {
      expect(method in RelayHttpClient.prototype).toBe(false);
      expect(method in RelayAdminClient.prototype).toBe(true);
    }
  });

  it("no core code names tmux, claude or codex (documentation may)", () => {
    expect(builtInMentions(sources())).toEqual([]);
  });

  it("finds a core file whose code names a built-in, and lets comments name them", () => {
    const files = sources();
    files.set("core/stop.ts", `${files.get("core/stop.ts")}\n/** Stops a tmux session. */\nconst how = "tmux"; // as tmux does\n`);
    files.set("core/text.ts", `${files.get("core/text.ts")}\n// claude and codex\nexport const name = agent.codexSession;\n`);
    const mentions = builtInMentions(files);
    expect(mentions).toEqual([
      expect.stringMatching(/^core\/stop\.ts:\d+: const how = "tmux";$/),
      expect.stringMatching(/^core\/text\.ts:\d+: export const name = agent\.codexSession;$/),
    ]);
  });

  it("finds a core file that imports a plugin, a plugin that reaches into the core, and a cycle", () => {
    const files = sources();
    files.set("core/stop.ts", `${files.get("core/stop.ts")}\nimport type { TmuxPluginOptions } from "../plugins/tmux/index.js";\n`);
    files.set("plugins/tmux/tmux.ts", `${files.get("plugins/tmux/tmux.ts")}\nimport { Secrets } from "../../core/secrets.js";\n`);
    files.set("core/text.ts", `${files.get("core/text.ts")}\nexport { Secrets } from "./secrets.js";\n`);
    files.set("core/secrets.ts", `${files.get("core/secrets.ts")}\nimport type {\n  UNSAFE_TEXT,\n} from "./text.js";\n`);
    const problems = checkLayers(files);
    expect(problems).toContainEqual(expect.stringMatching(/^core\/stop\.ts imports plugins\/tmux\/index\.ts: core imports nothing/));
    expect(problems).toContainEqual(expect.stringMatching(/^plugins\/tmux\/tmux\.ts imports core\/secrets\.ts: a plugin imports only/));
    expect(problems).toContainEqual(expect.stringMatching(/^import cycle among .*core\/secrets\.ts/));
  });
});
