import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./env.js";

/**
 * Integration tests run the built CLI (`dist/`). A dist older than any
 * source file would test yesterday's code, so it is built again first.
 */
export default function setup(): void {
  const built = join(ROOT, "dist", "cli", "main.js");
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const newest = Math.max(...["core", "plugins", "cli"].map((dir) => newestIn(join(ROOT, dir))));
  if (newest <= builtAt) return;
  process.stderr.write(`global setup: dist/ is older than the sources; building it (npm run build)\n`);
  execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit", cwd: ROOT });
}

function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : entry.name.endsWith(".ts") ? statSync(path).mtimeMs : 0);
  }
  return newest;
}
