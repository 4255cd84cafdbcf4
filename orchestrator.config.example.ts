/**
 * Example config for agent-relay-orchestrator. Its name keeps it from being
 * loaded by accident: copy it to ~/.agent-relay/orchestrator.config.ts (or
 * next to where you run the daemon, under that name) and edit it; or run
 * `agent-relay-orchestrator init`, which writes one for this host.
 * Every key is optional; defaults are shown. Environment variables
 * (AGENT_RELAY_URL, AGENT_RELAY_TOKEN, ...) override what is written here,
 * and `agent-relay-orchestrator config` shows where each value came from.
 */
import { defineConfig } from "agent-relay-orchestrator";

export default defineConfig({
  // The relay this host registers with. Keep the token out of files: set
  // AGENT_RELAY_TOKEN in the daemon's environment instead.
  relayUrl: "http://localhost:4850",

  // Providers this host offers. Each needs a launcher plugin (claude and
  // codex are built in).
  providers: ["claude", "codex"],

  // Every agent's cwd must resolve (symlinks and ".." included) inside this.
  // baseDir: "~/projects",

  // Extra environment for every agent. Only the names are told to the relay.
  env: {},

  // Options of the built-in plugins:
  // tmux: { socketName: "agents" },              // a separate tmux server (-L)
  // claude: { bin: "claude", args: ["--model", "opus"] },
  // codex: { launcher: "codex", args: [] },     // or launcher: "codex-relay" (0.9.0)
  // envPolicy: { deny: ["AWS_*"] },              // what agents inherit from the daemon
  // Notifications (off until a target is set): blocked, done, stuck, exited, crash-looping.
  // notifications: {
  //   targets: [
  //     { type: "ntfy", url: "https://ntfy.sh/my-agents-7f3a", events: ["blocked", "crash-looping"] },
  //     { type: "webhook", url: "https://example.com/hooks/agents", headers: { Authorization: "Bearer …" } },
  //     { type: "command", command: ["/usr/local/bin/notify-agents"], timeoutMs: 5_000 },
  //   ],
  // },

  // Your own plugins: objects, or module paths relative to this file.
  // plugins: ["./plugins/my-provider.ts"],
  // disablePlugins: ["codex"],

  // Overrides merged over the above on hosts whose name matches.
  hosts: {
    // "gpu-*": { providers: ["claude"], baseDir: "/srv/work" },
  },
});
