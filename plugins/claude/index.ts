import { z } from "zod";
import { ControlError, defineProvider, eventCommandArgv, readPluginOptions, screensSchema, withScreenOverrides, type AgentProvider } from "../../core/index.js";
import { claudeHookSettings } from "./events.js";

export const CLAUDE_PLUGIN = "claude";

/** The prompt 0.9.0 gave an agent spawned without one. */
export const DEFAULT_CLAUDE_PROMPT =
  "You are a headless relay agent spawned by the orchestrator. Await and respond to incoming relay messages.";

/** What Claude Code 2.1 shows (../shared/AGENT-CLIS.md). Regex sources; the config's `claude.screens` overrides them. */
export const CLAUDE_SCREENS = {
  ready: { all: ["^─{20,}$", "^❯\\s?$"], none: ["esc to interrupt"] },
  working: { all: ["esc to interrupt"] },
  dialogs: [
    { id: "theme", match: { all: ["Choose the text style that looks best with your terminal"] }, choose: "^Dark mode$" },
    { id: "api-key", match: { all: ["Detected a custom API key in your environment"] }, choose: "^Yes$" },
    { id: "security-notes", match: { all: ["Security notes", "Press Enter to continue"] }, keys: ["Enter"] },
    {
      id: "trust",
      match: { all: ["Is this a project you created or one you trust\\?|Do you trust the files in this folder\\?"] },
      choose: "^Yes, I trust this folder|^Yes, proceed",
    },
    { id: "bypass-permissions", match: { all: ["running in Bypass Permissions mode"] }, choose: "^Yes, I accept" },
  ],
  // Live state (AGENT-CLIS.md, "Claude Code through a full turn"): the ❯ box shows while it works
  // too, so idle is the box without `esc to interrupt`; a permission prompt has no box and no footer.
  states: {
    idle: { all: ["^─{20,}$", "^❯( |$)"], none: ["esc to interrupt"] },
    working: { all: ["esc to interrupt"] },
    blocked: [
      {
        id: "permission",
        match: { all: ["^\\s*Do you want to .*\\?$", "^\\s*(❯\\s*)?1\\.\\s+\\S"], none: ["esc to interrupt"] },
        question: "^\\s*Do you want to .*\\?$",
      },
    ],
    debounceMs: 150,
  },
  blockers: [
    { id: "not-logged-in", match: { all: ["Not logged in"] }, detail: "claude is not logged in: run `claude` and /login as this user" },
  ],
  // Claude refuses to bypass permissions as root, and exits: the fix goes with the exit.
  exitHints: [
    {
      id: "root-bypass",
      match: { all: ["cannot be used with root/sudo privileges"] },
      detail: 'fix: set IS_SANDBOX=1 in the env policy (config env: { IS_SANDBOX: "1" }) if this host is a sandbox, or use a non-bypass --approval-mode (default, acceptEdits, plan)',
    },
  ],
};

const BYPASS = "--dangerously-skip-permissions";

/**
 * Claude's arguments per approval mode: claude's own `--permission-mode`
 * values, and the protocol's names. `guarded`, the protocol's default,
 * bypasses permissions as 0.9.0 did (unless `skipPermissions` is false).
 */
export const CLAUDE_APPROVAL_ARGS: Record<string, string[]> = {
  guarded: [BYPASS],
  full: [BYPASS],
  bypassPermissions: [BYPASS],
  default: ["--permission-mode", "default"],
  acceptEdits: ["--permission-mode", "acceptEdits"],
  plan: ["--permission-mode", "plan"],
  "read-only": ["--permission-mode", "plan"],
};

const optionsSchema = z
  .object({
    /** The `claude` binary: a path or a name in the agent's PATH. */
    bin: z.string().min(1).default("claude"),
    /** Extra arguments, placed before the prompt. */
    args: z.array(z.string()).default([]),
    /** Used when a spawn brings no prompt (argument delivery only). */
    defaultPrompt: z.string().default(DEFAULT_CLAUDE_PROMPT),
    /** `argument` (0.9.0) puts the prompt on the command line; `type` types it once claude is ready. */
    promptDelivery: z.enum(["argument", "type"]).default("argument"),
    /**
     * Let approval modes bypass permissions (--dangerously-skip-permissions), as
     * 0.9.0 did by default. When false, `guarded` means claude's `default` mode
     * and the bypass modes are refused.
     */
    skipPermissions: z.boolean().default(true),
    /** Arguments per approval mode (replaces the built-in table). */
    approvalArgs: z.record(z.string(), z.array(z.string())).default(CLAUDE_APPROVAL_ARGS),
    /** Skip the bypass-permissions warning with --settings instead of answering it on the screen. */
    suppressDialogs: z.boolean().default(true),
    /** Pass claude hooks (--settings) that append its events (prompt, tool use, permission request, stop) to the agent's event file. */
    events: z.boolean().default(true),
    startTimeoutMs: z.number().int().min(1000).optional(),
    screens: screensSchema.optional(),
  })
  .strict();

export type ClaudeOptions = z.input<typeof optionsSchema>;

/**
 * Claude Code: `claude [args…] [--settings …] <approval args> -- <prompt>`
 * (the prompt after `--`, so no prompt is ever read as an option). The
 * approval mode picks the arguments (`CLAUDE_APPROVAL_ARGS`): bypass by
 * default, as 0.9.0; an unknown mode is refused with the known ones.
 * Start-up dialogs are answered by their option labels, never by a blind
 * Enter (two of them default to "No"). Options from the config's `claude`
 * section, or from the factory's argument.
 */
export function claudePlugin(overrides: ClaudeOptions = {}) {
  return defineProvider(
    (ctx): AgentProvider => {
      const o = optionsSchema.parse({ ...readPluginOptions(ctx.config, "claude", optionsSchema.partial()), ...overrides });
      // The arguments of an approval mode; a host that allows no bypass runs the default mode in claude's `default`.
      const approvalArgs = (mode: string): string[] => {
        const args = o.approvalArgs[mode];
        if (!args) throw new ControlError("invalid", `approval mode "${mode}" is not known to claude (known: ${Object.keys(o.approvalArgs).join(", ")})`);
        if (!args.includes(BYPASS) || o.skipPermissions) return args;
        if (mode === "guarded") return ["--permission-mode", "default"];
        throw new ControlError("invalid", `approval mode "${mode}" bypasses permissions, which this host does not allow (claude.skipPermissions is false)`);
      };
      ctx.hooks.onDoctor.tap((checks) => {
        const bypassByDefault = o.skipPermissions && (o.approvalArgs.guarded ?? []).includes(BYPASS);
        if (!ctx.config.providers.includes(CLAUDE_PLUGIN) || !bypassByDefault || process.getuid?.() !== 0) return;
        const sandbox = ctx.config.env.IS_SANDBOX === "1";
        checks.push({
          name: "claude as root",
          status: sandbox ? "ok" : "fail",
          detail: sandbox
            ? "running as root with IS_SANDBOX=1 in env: claude accepts --dangerously-skip-permissions"
            : 'running as root: claude exits at once with --dangerously-skip-permissions unless IS_SANDBOX=1; if this host is a sandbox, set env: { IS_SANDBOX: "1" } in the config (or claude: { skipPermissions: false })',
        });
      });
      return {
        name: CLAUDE_PLUGIN,
        binary: { bin: o.bin, versionArgs: ["--version"] },
        command(spec) {
          const approval = approvalArgs(spec.approvalMode);
          // One --settings for all we pass: no user dotfile is written.
          const merged = {
            ...(approval.includes(BYPASS) && o.suppressDialogs ? { skipDangerousModePermissionPrompt: true } : {}),
            ...(o.events ? claudeHookSettings(eventCommandArgv(ctx.config.stateDir, spec.sessionName)) : {}),
          };
          const settings = Object.keys(merged).length > 0 ? ["--settings", JSON.stringify(merged)] : [];
          // After "--" the prompt is data, whatever it looks like ("--add-dir=/" stays text).
          const prompt = o.promptDelivery === "argument" ? ["--", spec.prompt || o.defaultPrompt] : [];
          return { command: [o.bin, ...o.args, ...settings, ...approval, ...prompt] };
        },
        ...withScreenOverrides(CLAUDE_SCREENS, o.screens),
        prompt: { delivery: o.promptDelivery, enterDelayMs: 150, pastedMarker: "[Pasted text #" },
        stop: { keys: [["C-c"], ["C-c"]], intervalMs: 300, graceMs: 3_000 },
        ...(o.events ? { events: "claude-hooks", eventsStartTurns: true } : {}),
        ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
      };
    },
    { pluginName: CLAUDE_PLUGIN, config: { section: "claude", schema: optionsSchema } },
  );
}
