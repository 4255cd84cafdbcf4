import type { Plugin, ResolvedConfig } from "../core/index.js";
import { claudePlugin } from "./claude/index.js";
import { codexPlugin } from "./codex/index.js";
import { controlsPlugin } from "./controls/index.js";
import { envPolicyPlugin } from "./env-policy/index.js";
import { messagesPlugin } from "./messages/index.js";
import { relayHttpPlugin } from "./relay-http/index.js";
import { restartPolicyPlugin } from "./restart-policy/index.js";
import { tmuxPlugin } from "./tmux/index.js";

/** The built-in plugins, in the order they apply. */
export function builtinPlugins(): Plugin[] {
  return [envPolicyPlugin(), tmuxPlugin(), claudePlugin(), codexPlugin(), relayHttpPlugin(), controlsPlugin(), restartPolicyPlugin(), messagesPlugin()];
}

/**
 * Turns a resolved config into the plugin list: the built-ins, less those
 * named in `disablePlugins`, with each one that a user plugin replaces (same
 * name, or same role) swapped for it in place; other user plugins follow.
 */
export function resolvePlugins(config: ResolvedConfig, builtins: Plugin[] = builtinPlugins()): Plugin[] {
  const disabled = new Set(config.disablePlugins);
  const known = new Set([...builtins.map((p) => p.name), ...config.plugins.map((p) => p.name)]);
  for (const name of disabled) {
    if (!known.has(name)) {
      throw new Error(`disablePlugins: no plugin is named "${name}" (known: ${[...known].join(", ")})`);
    }
  }
  const seen = new Set<string>();
  for (const plugin of config.plugins) {
    if (seen.has(plugin.name)) throw new Error(`plugins: two plugins are named "${plugin.name}"`);
    seen.add(plugin.name);
  }
  const user = config.plugins.filter((p) => !disabled.has(p.name));
  const used = new Set<Plugin>();
  const result: Plugin[] = [];
  for (const builtin of builtins) {
    if (disabled.has(builtin.name)) continue;
    const replacement = user.find(
      (p) => !used.has(p) && (p.name === builtin.name || (p.role !== undefined && p.role === builtin.role)),
    );
    if (replacement) used.add(replacement);
    result.push(replacement ?? builtin);
  }
  return [...result, ...user.filter((p) => !used.has(p))];
}
