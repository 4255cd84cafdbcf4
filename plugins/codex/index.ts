import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { ControlError, defineProvider, eventCommandArgv, readPluginOptions, screensSchema, withScreenOverrides, type AgentProvider } from "../../core/index.js";

export const CODEX_PLUGIN = "codex";

/** What Codex 0.169 shows (../shared/AGENT-CLIS.md). The splash shows the prompt line too, but not the model line with the cwd. */
export const CODEX_SCREENS = {
  ready: { all: ["Ask Codex to do anything", "\\? for shortcuts", " · [/~]"], none: ["esc to interrupt", "Trust this folder"] },
  working: { all: ["esc to interrupt"] },
  // Live state: busy shows "• Working (… • esc to interrupt)"; waiting shows the › prompt and the footer.
  // An approval asks "Would you like to run the following command?" with numbered options.
  states: {
    idle: { all: ["^› ", "\\? for shortcuts"], none: ["esc to interrupt"] },
    working: { all: ["esc to interrupt"] },
    blocked: [
      {
        id: "approval",
        match: { all: ["^\\s*Would you like to .*\\?$", "^\\s*(›\\s*)?1\\.\\s+\\S"], none: ["esc to interrupt"] },
        question: "^\\s*Would you like to .*\\?$",
      },
    ],
    debounceMs: 150,
  },
  dialogs: [{ id: "trust", match: { all: ["Trust this folder"] }, choose: "^Trust and continue" }],
  blockers: [
    {
      id: "login",
      match: { all: ["Choose how you want to use Codex"] },
      detail: "codex is not logged in: run `printenv OPENAI_API_KEY | codex login --with-api-key` (or `codex login`) as this user",
    },
  ],
};

/** Arguments per approval mode. `guarded` is the protocol's default. */
export const CODEX_APPROVAL_ARGS: Record<string, string[]> = {
  guarded: ["-a", "on-request", "-s", "workspace-write"],
  "read-only": ["-a", "on-request", "-s", "read-only"],
  full: ["--dangerously-bypass-approvals-and-sandbox"],
};

const optionsSchema = z
  .object({
    /** `codex`: the current CLI. `codex-relay`: 0.9.0's bridge (`codex-relay --headless --relay-url <url>`). */
    launcher: z.enum(["codex", "codex-relay"]).default("codex"),
    /** The binary; defaults to the launcher's name. */
    bin: z.string().min(1).optional(),
    /** Extra arguments, placed after ours. */
    args: z.array(z.string()).default([]),
    /** Pass --no-daemon (codex): its background servers would outlive tmux. */
    noDaemon: z.boolean().default(true),
    /** Trust the agent's cwd with `-c projects=…` instead of answering the trust dialog. */
    suppressDialogs: z.boolean().default(true),
    /** Pass `-c notify=[…]` so codex appends each finished turn to the agent's event file. */
    events: z.boolean().default(true),
    approvalArgs: z.record(z.string(), z.array(z.string())).default(CODEX_APPROVAL_ARGS),
    startTimeoutMs: z.number().int().min(1000).optional(),
    screens: screensSchema.optional(),
  })
  .strict();

export type CodexOptions = z.input<typeof optionsSchema>;

/**
 * Codex agents. By default the current CLI (no `--full-auto`, which no
 * longer exists; `--no-daemon`; the cwd pre-trusted; the prompt typed once
 * the real ready screen shows). `launcher: "codex-relay"` keeps 0.9.0's
 * bridge. Either way the agent gets `AGENT_RELAY_CODEX_HEADLESS=1`.
 */
export function codexPlugin(overrides: CodexOptions = {}) {
  return defineProvider(
    (ctx): AgentProvider => {
      const o = optionsSchema.parse({ ...readPluginOptions(ctx.config, "codex", optionsSchema.partial()), ...overrides });
      const env = { AGENT_RELAY_CODEX_HEADLESS: "1" };
      const timeout = o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {};
      if (o.launcher === "codex-relay") {
        const bin = o.bin ?? "codex-relay";
        return {
          name: CODEX_PLUGIN,
          binary: { bin, versionArgs: ["--version"] },
          command: () => ({ command: [bin, "--headless", "--relay-url", ctx.config.relayUrl, ...o.args], env }),
          // The bridge's screen is its own: anything it prints means it runs.
          ...withScreenOverrides({ ready: { all: ["\\S"] }, dialogs: [], blockers: [] }, o.screens),
          stop: { keys: [["C-c"]], graceMs: 3_000 },
          ...timeout,
        };
      }
      const bin = o.bin ?? "codex";
      return {
        name: CODEX_PLUGIN,
        binary: { bin, versionArgs: ["--version"] },
        command(spec) {
          const approval = o.approvalArgs[spec.approvalMode];
          if (!approval) {
            throw new ControlError("invalid", `approval mode "${spec.approvalMode}" has no codex arguments (known: ${Object.keys(o.approvalArgs).join(", ")})`);
          }
          const trust = o.suppressDialogs ? ["-c", `projects={${JSON.stringify(projectRoot(spec.realCwd))}={trust_level="trusted"}}`] : [];
          // notify runs an argv (no shell), the turn's JSON appended as its last argument.
          const notify = o.events ? ["-c", `notify=${JSON.stringify(eventCommandArgv(ctx.config.stateDir, spec.sessionName))}`] : [];
          return { command: [bin, ...(o.noDaemon ? ["--no-daemon"] : []), ...trust, ...notify, ...approval, ...o.args], env };
        },
        ...withScreenOverrides(CODEX_SCREENS, o.screens),
        prompt: { delivery: "type", enterDelayMs: 300 },
        stop: { keys: [["C-c"]], graceMs: 3_000 },
        ...(o.events ? { events: "codex-notify" } : {}),
        ...timeout,
      };
    },
    { pluginName: CODEX_PLUGIN, config: { section: "codex", schema: optionsSchema } },
  );
}

/** Codex trusts projects by their git root (the folder it asks about); outside git, the folder itself. */
function projectRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, ".git"))) return d;
    if (d === dirname(d)) return dir;
  }
}
