import { ControlError } from "./errors.js";
import { isSecretName } from "./text.js";
import type { OrchestratorHooks } from "./hooks.js";
import type { ResolvedConfig } from "./config/schema.js";
import type { SpawnRequest, SpawnSpec } from "./types.js";

/**
 * Turns a spawn request into the finished spec of the agent to start: the
 * `beforeSpawn` waterfall shapes it (env policy, launcher, vetoes), then the
 * protocol's variables are set. Throws `ControlError` when it cannot start
 * as shaped (environment nobody accepted, no launcher, a renamed session).
 */
export async function shapeSpawn(
  hooks: Pick<OrchestratorHooks, "beforeSpawn">,
  config: ResolvedConfig,
  request: SpawnRequest & { provider: string; label: string; cwd: string; realCwd: string },
  sessionName: string,
): Promise<SpawnSpec> {
  const initial: SpawnSpec = {
    provider: request.provider,
    label: request.label,
    cwd: request.cwd,
    realCwd: request.realCwd,
    approvalMode: request.approvalMode ?? "guarded",
    ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
    sessionName,
    command: [],
    env: {},
    requestedEnv: { ...request.env },
    control: { ...request.control },
    secretEnv: [],
    meta: { ...request.meta },
  };
  const spec = withProtocolEnv(await hooks.beforeSpawn.promise(initial), config);
  const unaccepted = Object.keys(spec.requestedEnv);
  if (unaccepted.length > 0) {
    throw new ControlError("invalid", `environment from a control is not accepted here: ${unaccepted.join(", ")} (no plugin took it)`);
  }
  if (spec.command.length === 0 || !spec.command[0]) {
    throw new ControlError("provider", `no launcher plugin handles provider "${spec.provider}"`);
  }
  if (spec.sessionName !== sessionName) {
    throw new ControlError("failed", "a beforeSpawn plugin changed the session name; that is not allowed");
  }
  return spec;
}

/**
 * The variables PROTOCOL.md gives every agent (how it finds and joins the
 * relay), set after every plugin has shaped the spec: no env policy, launcher
 * or replacement of either can drop or change them. Every variable with a
 * secret name (`isSecretName`) is listed in `secretEnv`, so its value is
 * redacted even when the env policy that set it did not say so.
 */
function withProtocolEnv(spec: SpawnSpec, config: ResolvedConfig): SpawnSpec {
  const env: Record<string, string> = {
    ...spec.env,
    AGENT_RELAY_URL: config.relayUrl,
    AGENT_RELAY_LABEL: spec.label,
    AGENT_RELAY_APPROVAL: spec.approvalMode,
    AGENT_RELAY_TAGS: ["headless", "dashboard-spawned", config.hostname].join(","),
  };
  delete env.AGENT_RELAY_TOKEN;
  if (config.token) env.AGENT_RELAY_TOKEN = config.token;
  // Values under secret names are secret whichever env policy put them there (and listed them or not).
  const secretEnv = [...new Set([...spec.secretEnv, ...Object.keys(env).filter((name) => isSecretName(name) && env[name])])];
  return { ...spec, env, secretEnv };
}
