import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { dirname, join, resolve } from "node:path";

/** Writes a commented config for this host; refuses to overwrite without `force`. */
export async function runInit(args: { path?: string | undefined; force?: boolean }): Promise<void> {
  const home = process.env.HOME || homedir();
  const path = resolve(args.path ?? join(home, ".agent-relay", "orchestrator.config.ts"));
  if (existsSync(path) && !args.force) {
    process.stderr.write(`${path} already exists; pass --force to overwrite it\n`);
    process.exitCode = 1;
    return;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, template(home), { mode: 0o600 });
  process.stderr.write(`wrote ${path}\n`);
  const legacy = join(home, ".agent-relay", "orchestrator.json");
  if (dirname(path) === dirname(legacy) && existsSync(legacy)) {
    process.stderr.write(`note: ${legacy} (0.9.0) is no longer read while ${path} exists\n`);
  }
  process.stdout.write(`${path}\n`);
}

function template(home: string): string {
  const host = hostname();
  return `// agent-relay-orchestrator config for ${host}.
// Every key is optional; the value shown is the default unless noted.
// Check the result with: agent-relay-orchestrator config
export default {
  // Orchestrator id; the relay addresses controls to "orchestrator-<id>". It
  // must differ on each host of one relay: left out, it is this machine's
  // hostname (dots become dashes), so a copy of this file on another host
  // does not take this one's place.
  // id: ${JSON.stringify(host.replace(/\./g, "-"))},

  // The relay. Keep the token out of this file: set AGENT_RELAY_TOKEN instead.
  relayUrl: "http://localhost:4850",

  // Providers this host offers, and the directory every agent must work inside.
  providers: ["claude", "codex"],
  baseDir: ${JSON.stringify(join(home, "projects"))},

  // Extra environment for every agent (names only are sent to the relay).
  env: {},

  heartbeatIntervalMs: 30000,
  pollIntervalMs: 1000,
  tmuxPrefix: "ar",

  // Options of the built-in plugins.
  // tmux: { socketName: "agents" },
  // claude: { bin: "claude", args: [] },
  // codex: { launcher: "codex", args: [] },     // or launcher: "codex-relay" (0.9.0)
  // envPolicy: { allow: ["PATH", "HOME", "CLAUDE_*"], deny: ["AWS_*"] },

  // Your own plugins: objects, or module paths relative to this file.
  // plugins: ["./my-plugin.ts"],
  // disablePlugins: ["codex"],

  // Overrides for hosts whose hostname matches a pattern.
  // hosts: { "gpu-*": { providers: ["claude"] } },
};
`;
}
