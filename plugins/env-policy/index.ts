import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { definePlugin, readPluginOptions, SpawnVetoError, STAGE, type SpawnSpec } from "../../core/index.js";

export const ENV_POLICY_PLUGIN = "env-policy";

/** What passes from the daemon's own environment by default: 0.9.0's list, plus locale and codex's keys. */
export const DEFAULT_ALLOW = [
  "PATH", "HOME", "USER", "SHELL", "LANG", "LC_*", "TZ",
  "CLAUDE_*", "ANTHROPIC_*", "CODEX_*", "OPENAI_API_KEY",
  "GITHUB_TOKEN", "NPM_TOKEN",
];

/** Never inherited, whatever `allow` says: they change how programs load or run, or are the daemon's own. */
export const DEFAULT_DENY = [
  "LD_*", "DYLD_*", "NODE_OPTIONS", "NODE_PATH", "BASH_ENV", "ENV", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS",
  "IFS", "PS4", "PERL5OPT", "PERL5LIB", "PYTHONSTARTUP", "PYTHONPATH", "RUBYOPT", "GCONV_PATH",
  "AGENT_RELAY_*",
];

/**
 * Never accepted from a control message, whatever `fromControl` says: they
 * change how programs are found, loaded or run, where they keep their state,
 * or are the relay's own.
 */
export const NEVER_FROM_CONTROL = [
  ...DEFAULT_DENY,
  "PATH", "HOME", "SHELL", "TMPDIR", "PYTHONHOME", "RUBYLIB", "EDITOR", "VISUAL", "PAGER", "BROWSER",
  "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG*", "GIT_ASKPASS", "SSH_ASKPASS",
  "CLAUDE_CONFIG_DIR", "CODEX_HOME", "IS_SANDBOX", "TERM", "TMUX*",
];

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY|PRIVATE_KEY|_KEY$/i;

const optionsSchema = z
  .object({
    /** Names (with `*` wildcards) taken from the daemon's environment. Replaces the default list. */
    allow: z.array(z.string().min(1)),
    /** Names never taken from the daemon's environment; added to the built-in deny list. */
    deny: z.array(z.string().min(1)),
    /** Directories put in front of PATH (0.9.0 added these three). */
    pathPrepend: z.array(z.string().min(1)),
    /** Names (with `*`) a spawn control may set in the agent's env. None by default. */
    fromControl: z.array(z.string().min(1)),
  })
  .partial()
  .strict();

export type EnvPolicyOptions = z.input<typeof optionsSchema>;

/**
 * Decides the complete environment of an agent, in this order, later wins:
 * allowed names from the daemon's environment, the config's `env`, then the
 * relay variables of PROTOCOL.md. Launchers add their own on top.
 */
export function envPolicyPlugin(overrides: EnvPolicyOptions & { source?: NodeJS.ProcessEnv } = {}) {
  return definePlugin({
    name: ENV_POLICY_PLUGIN,
    role: "env-policy",
    apply(ctx) {
      const { source = process.env, ...rest } = overrides;
      const options = { ...readPluginOptions(ctx.config, "envPolicy", optionsSchema), ...rest };
      const allow = toMatcher(options.allow ?? DEFAULT_ALLOW);
      const deny = toMatcher([...DEFAULT_DENY, ...(options.deny ?? [])]);
      const fromControl = toMatcher(options.fromControl ?? []);
      const neverFromControl = toMatcher([...NEVER_FROM_CONTROL, ...(options.deny ?? [])]);
      const home = source.HOME || homedir();
      const pathPrepend = options.pathPrepend ?? [join(home, ".local", "bin"), join(home, ".bun", "bin"), join(home, ".npm-global", "bin")];
      const { config } = ctx;

      ctx.hooks.beforeSpawn.tap(
        (spec: SpawnSpec) => {
          const env: Record<string, string> = {};
          for (const [name, value] of Object.entries(source)) {
            if (value !== undefined && allow(name) && !deny(name)) env[name] = value;
          }
          if (env.PATH !== undefined || allow("PATH")) {
            env.PATH = [...pathPrepend, ...(env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")]
              .filter((dir, i, all) => dir && all.indexOf(dir) === i)
              .join(":");
          }
          Object.assign(env, config.env);
          for (const [name, value] of Object.entries(spec.requestedEnv)) {
            if (neverFromControl(name)) throw new SpawnVetoError(`${name} is never accepted from a control: it changes how programs load or run`);
            if (!fromControl(name)) throw new SpawnVetoError(`${name} may not be set by a control (envPolicy.fromControl allows ${options.fromControl?.join(", ") || "none"})`);
            if (/[\n\0]/.test(value)) throw new SpawnVetoError(`the value of ${name} contains a newline or NUL`);
            env[name] = value;
          }
          env.AGENT_RELAY_URL = config.relayUrl;
          if (config.token) env.AGENT_RELAY_TOKEN = config.token;
          env.AGENT_RELAY_LABEL = spec.label;
          env.AGENT_RELAY_APPROVAL = spec.approvalMode;
          env.AGENT_RELAY_TAGS = ["headless", "dashboard-spawned", config.hostname].join(",");
          const secretEnv = Object.keys(env).filter((name) => SECRET_NAME.test(name));
          return { ...spec, env: { ...env, ...spec.env }, requestedEnv: {}, secretEnv: [...new Set([...spec.secretEnv, ...secretEnv])] };
        },
        { stage: STAGE.POLICY },
      );
    },
  });
}

/** A predicate for names matching any of the patterns (`*` matches any run of characters). */
export function toMatcher(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes("*")));
  const wild = patterns
    .filter((p) => p.includes("*"))
    .map((p) => new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`));
  return (name) => exact.has(name) || wild.some((re) => re.test(name));
}
