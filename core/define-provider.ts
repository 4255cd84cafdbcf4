import { execFile } from "node:child_process";
import type { PluginConfigSpec } from "./config/schema.js";
import { definePlugin, type Plugin, type PluginContext } from "./plugin.js";
import type { AgentProvider } from "./provider.js";
import type { DoctorCheck } from "./types.js";

/**
 * Makes a plugin that adds a provider: it fills the command line of spawns
 * for `provider.name` (in `beforeSpawn`) and registers the screen rules the
 * core watches start-up with. The built-in claude and codex plugins are made
 * this way; a user's provider has every ability they have.
 */
export function defineProvider(
  provider: AgentProvider | ((ctx: PluginContext) => AgentProvider),
  options: { pluginName?: string; config?: PluginConfigSpec } = {},
): Plugin {
  const name = typeof provider === "function" ? options.pluginName : provider.name;
  if (!name) throw new Error("defineProvider: a provider made by a function needs options.pluginName");
  return definePlugin({
    name,
    role: `launcher:${name}`,
    ...(options.config ? { config: options.config } : {}),
    apply(ctx) {
      const resolved = typeof provider === "function" ? provider(ctx) : provider;
      ctx.provideProvider(resolved);
      ctx.hooks.onDoctor.tap(async (checks) => {
        if (!ctx.config.providers.includes(resolved.name)) return;
        checks.push(
          resolved.binary
            ? await checkBinary(resolved.name, resolved.binary.bin, resolved.binary.versionArgs)
            : { name: `provider ${resolved.name}`, status: "ok", detail: "provided (no binary to check)" },
        );
      });
      ctx.hooks.beforeSpawn.tap((spec) => {
        if (spec.provider !== resolved.name || spec.command.length > 0) return spec;
        const { command, env } = resolved.command(spec);
        return { ...spec, command, env: { ...spec.env, ...env } };
      });
    },
  });
}

/** `doctor`'s look at a provider's binary: found, and what its version flag says. */
function checkBinary(provider: string, bin: string, versionArgs: string[]): Promise<DoctorCheck> {
  return new Promise((resolve) => {
    execFile(bin, versionArgs, { timeout: 10_000, encoding: "utf8" }, (error, stdout, stderr) => {
      const name = `provider ${provider}`;
      if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
        resolve({ name, status: "fail", detail: `"${bin}" is not installed or not in PATH` });
      } else if (error) {
        resolve({ name, status: "fail", detail: `"${bin} ${versionArgs.join(" ")}" failed: ${(stderr || error.message).trim().split("\n")[0]}` });
      } else {
        resolve({ name, status: "ok", detail: `${bin}: ${(stdout || stderr).trim().split("\n")[0]}` });
      }
    });
  });
}
