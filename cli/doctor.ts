import { stat } from "node:fs/promises";
import { Orchestrator } from "../core/orchestrator.js";
import type { DoctorCheck } from "../core/types.js";
import type { ResolvedConfig } from "../core/config/schema.js";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { loadCliConfig, withPlugins, type CommonArgs } from "./load.js";
import { loggerFor } from "./log.js";

/**
 * `doctor`: one line per check, exit 1 when any failed. The command checks
 * the base directory and that each configured provider has a plugin;
 * plugins add theirs (tmux, the relay, each provider's binary, claude's root
 * caveat) through the `onDoctor` hook.
 */
export async function runDoctor(args: CommonArgs & { json?: boolean }): Promise<void> {
  const { config, plugins } = await withPlugins(await loadCliConfig(args));
  const orchestrator = await Orchestrator.create({ config, plugins, logger: loggerFor(config) });
  const checks = await doctorChecks(orchestrator, config);
  if (args.json) {
    process.stdout.write(JSON.stringify(checks, null, 2) + "\n");
  } else {
    for (const check of checks) process.stdout.write(`${check.status.toUpperCase().padEnd(5)} ${check.name}: ${check.detail}\n`);
  }
  if (checks.some((c) => c.status === "fail")) process.exitCode = 1;
}

/** Every check of this host: the plugins' (through `onDoctor`), the base directory, providers nobody provides. */
export async function doctorChecks(orchestrator: Orchestrator, config: ResolvedConfig): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  await orchestrator.hooks.onDoctor.promise(checks);
  checks.push(await checkBaseDir(config.baseDir));
  // Each provider checks its own binary (defineProvider taps onDoctor); one nobody provides is named here.
  for (const name of config.providers) {
    if (!orchestrator.providers().has(name)) {
      checks.push({ name: `provider ${name}`, status: "fail", detail: "no plugin provides it: add one, or remove it from providers" });
    }
  }
  return checks;
}

/** `up` at start: each check that fails is a warning (the daemon still starts; `doctor` shows them all). */
export async function warnFailedChecks(orchestrator: Orchestrator, config: ResolvedConfig, logger: Logger): Promise<void> {
  try {
    for (const check of await doctorChecks(orchestrator, config)) {
      if (check.status === "fail") logger.warn(`doctor: ${check.name}: ${check.detail}`);
    }
  } catch (err) {
    logger.warn(`doctor: the checks failed: ${errorMessage(err)}`);
  }
}

async function checkBaseDir(baseDir: string): Promise<DoctorCheck> {
  try {
    const info = await stat(baseDir);
    return info.isDirectory()
      ? { name: "baseDir", status: "ok", detail: baseDir }
      : { name: "baseDir", status: "fail", detail: `${baseDir} is not a directory` };
  } catch {
    return { name: "baseDir", status: "fail", detail: `${baseDir} does not exist: create it, or set baseDir` };
  }
}
