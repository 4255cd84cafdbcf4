import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { definePlugin, isSecretName, readPluginOptions, SpawnVetoError, STAGE, type SpawnSpec } from "../../core/index.js";

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
 * Never accepted from a control message, whatever `fromControl` says (names
 * compared without regard to case): they change how programs are found,
 * loaded or run (runtimes, git, package managers, shells), whom they trust
 * (TLS, proxies, API endpoints), where they keep their state, or are the
 * relay's own.
 */
export const NEVER_FROM_CONTROL = [
  ...DEFAULT_DENY,
  "PATH", "HOME", "SHELL", "TMPDIR", "PYTHONHOME", "PYTHON*", "RUBYLIB", "RUBY*", "PERL*", "EDITOR", "VISUAL", "PAGER", "BROWSER",
  "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "MAVEN_OPTS", "GRADLE_OPTS", "DOTNET_*", "GOFLAGS", "GOPROXY", "GOPATH", "GOROOT", "GOENV", "GOTOOLCHAIN", "GOINSECURE", "GOPRIVATE", "GONOSUMDB", "GOSUMDB", "CARGO*", "RUSTC*", "RUSTFLAGS",
  "GIT_*", "SSH_*", "GNUPGHOME", "NPM_CONFIG_*", "YARN_*", "PNPM_*", "BUN_*", "NODE_*", "DENO_*", "PIP_*", "UV_*", "POETRY_*", "BUNDLE_*", "GEM_*", "COMPOSER_*",
  "*_PROXY", "SSL_*", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "*_CA_*", "*_CERT*", "*_BASE_URL", "*_API_BASE", "*_ENDPOINT*", "*_HOST",
  "XDG_*", "ZDOTDIR", "INPUTRC", "TERMINFO*", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_*", "LESSOPEN", "LESSCLOSE", "MANPAGER", "GIT_PAGER",
  "CLAUDE_*", "ANTHROPIC_*", "CODEX_*", "OPENAI_*", "IS_SANDBOX", "TERM", "TMUX*",
];

const optionsSchema = z
  .object({
    /** Names (with `*` wildcards) taken from the daemon's environment. Replaces the default list. */
    allow: z.array(z.string().min(1)),
    /** Names never taken from the daemon's environment; added to the built-in deny list. */
    deny: z.array(z.string().min(1)),
    /** Directories put in front of PATH (0.9.0 added these three). */
    pathPrepend: z.array(z.string().min(1)),
    /** Exact names (no wildcards) a spawn control may set in the agent's env. None by default. */
    fromControl: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an exact environment variable name (no wildcards)")),
  })
  .partial()
  .strict();

export type EnvPolicyOptions = z.input<typeof optionsSchema>;

/**
 * Decides the environment of an agent, in this order, later wins: allowed
 * names from the daemon's environment, the config's `env`, then what a
 * control asked for and `fromControl` allows. Launchers add their own on
 * top; the core sets the relay variables of PROTOCOL.md last, whichever env
 * policy runs.
 */
export function envPolicyPlugin(overrides: EnvPolicyOptions & { source?: NodeJS.ProcessEnv } = {}) {
  return definePlugin({
    name: ENV_POLICY_PLUGIN,
    role: "env-policy",
    config: { section: "envPolicy", schema: optionsSchema },
    apply(ctx) {
      const { source = process.env, ...rest } = overrides;
      const options = { ...readPluginOptions(ctx.config, "envPolicy", optionsSchema), ...rest };
      const allow = toMatcher(options.allow ?? DEFAULT_ALLOW);
      const deny = toMatcher([...DEFAULT_DENY, ...(options.deny ?? [])]);
      const fromControl = new Set(options.fromControl ?? []);
      const neverFromControl = toMatcher([...NEVER_FROM_CONTROL, ...(options.deny ?? [])], { ignoreCase: true });
      const home = source.HOME || homedir();
      const pathPrepend = options.pathPrepend ?? [join(home, ".local", "bin"), join(home, ".bun", "bin"), join(home, ".npm-global", "bin")];
      const { config } = ctx;
      // Values that will reach agents under secret names are redacted everywhere from the start.
      for (const [name, value] of [...Object.entries(source), ...Object.entries(config.env)]) {
        if (value !== undefined && isSecretName(name) && (name in config.env || (allow(name) && !deny(name)))) ctx.addSecret(value);
      }

      // A spawn control may ask for environment (`env`): untrusted, checked against `fromControl` below.
      ctx.extendControl("spawn", {
        env: z
          .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "expected environment variable names"), z.string().max(32_768, "expected values of at most 32768 characters"))
          .refine((env) => Object.keys(env).length <= 64, "expected at most 64 variables")
          .optional(),
      });

      ctx.hooks.beforeSpawn.tap(
        (spec: SpawnSpec) => {
          const requested = { ...spec.requestedEnv, ...(spec.control.env as Record<string, string> | undefined) };
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
          for (const [name, value] of Object.entries(requested)) {
            if (neverFromControl(name)) {
              throw new SpawnVetoError(`${name} is never accepted from a control: it changes how programs load, run or whom they trust`);
            }
            if (!fromControl.has(name)) throw new SpawnVetoError(`${name} may not be set by a control (envPolicy.fromControl allows ${options.fromControl?.join(", ") || "none"})`);
            if (/[\n\0]/.test(value)) throw new SpawnVetoError(`the value of ${name} contains a newline or NUL`);
            env[name] = value;
          }
          const secretEnv = Object.keys(env).filter(isSecretName);
          return { ...spec, env: { ...env, ...spec.env }, requestedEnv: {}, secretEnv: [...new Set([...spec.secretEnv, ...secretEnv])] };
        },
        { stage: STAGE.POLICY },
      );
    },
  });
}

/** A predicate for names matching any of the patterns (`*` matches any run of characters). */
export function toMatcher(patterns: readonly string[], options: { ignoreCase?: boolean } = {}): (name: string) => boolean {
  const fold = (s: string) => (options.ignoreCase ? s.toUpperCase() : s);
  const exact = new Set(patterns.filter((p) => !p.includes("*")).map(fold));
  const wild = patterns
    .filter((p) => p.includes("*"))
    .map((p) => new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, options.ignoreCase ? "i" : ""));
  return (name) => exact.has(fold(name)) || wild.some((re) => re.test(name));
}
