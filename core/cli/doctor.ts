import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { Orchestrator } from "../orchestrator.js";
import type { DoctorCheck } from "../types.js";
import { loadCliConfig, type CommonArgs } from "./load.js";
import { loggerFor } from "./serve.js";

/**
 * `doctor`: one line per check, exit 1 when any failed. The core checks the
 * base directory and each provider's binary; plugins add theirs (tmux, the
 * relay, claude's root caveat) through the `onDoctor` hook.
 */
export async function runDoctor(args: CommonArgs & { json?: boolean }): Promise<void> {
  const config = await loadCliConfig(args);
  const { resolvePlugins } = await import("../../plugins/defaults.js");
  const orchestrator = await Orchestrator.create({ config, plugins: resolvePlugins(config), logger: loggerFor(config) });
  const checks: DoctorCheck[] = [];
  await orchestrator.hooks.onDoctor.promise(checks);
  checks.push(await checkBaseDir(config.baseDir));
  const providers = orchestrator.providers();
  for (const name of config.providers) {
    const provider = providers.get(name);
    if (!provider) {
      checks.push({ name: `provider ${name}`, status: "fail", detail: "no plugin provides it: add one, or remove it from providers" });
    } else if (provider.binary) {
      checks.push(await checkBinary(name, provider.binary.bin, provider.binary.versionArgs));
    } else {
      checks.push({ name: `provider ${name}`, status: "ok", detail: "provided (no binary to check)" });
    }
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(checks, null, 2) + "\n");
  } else {
    for (const check of checks) process.stdout.write(`${check.status.toUpperCase().padEnd(5)} ${check.name}: ${check.detail}\n`);
  }
  if (checks.some((c) => c.status === "fail")) process.exitCode = 1;
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
