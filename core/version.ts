import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The wire protocol version this daemon speaks (PROTOCOL.md). */
export const PROTOCOL_VERSION = 2;

/** The package version, read from our own package.json (source and build layouts alike). */
export const VERSION = readOwnVersion();

/** The git commit, when the environment names one (as 0.9.0 read it). */
export const GIT_SHA: string | undefined = process.env.AGENT_RELAY_GIT_SHA || process.env.GIT_SHA || undefined;

function readOwnVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "agent-relay-orchestrator" && pkg.version) return pkg.version;
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}
