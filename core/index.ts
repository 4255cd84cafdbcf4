export { Orchestrator, type OrchestratorOptions } from "./orchestrator.js";
// The unscoped hooks object is not public API: a plugin taps the hooks its `apply` receives.
export { STAGE, type PluginHook, type PluginHooks, type StopReason, type TapOptions } from "./hooks.js";
export {
  definePlugin,
  RelayRequestError,
  type AgentBackend,
  type LeftoverProcess,
  type OrchestratorApi,
  type Plugin,
  type PluginContext,
  type RelayTransport,
  type StopOutcome,
} from "./plugin.js";
export {
  ConfigError,
  ControlError,
  PluginError,
  SpawnVetoError,
  errorMessage,
  failureAnswer,
  isConfigError,
  isControlError,
  ERROR_KIND,
  isErrorKind,
  isPluginError,
  rootCause,
} from "./errors.js";
export { createLogger, redact, type Logger, type LogLevelName } from "./logger.js";
export {
  defineConfig,
  readPluginOptions,
  sourceLabel,
  type ConfigPlugin,
  type ConfigSource,
  type PluginConfigSpec,
  type ResolvedConfig,
  type UserConfig,
} from "./config/schema.js";
export { configForPlugins, sectionDefaults, type ConfigOwner } from "./config/plugins.js";
export { resolveConfig, matchesHost, ENV_KEYS, type ResolveOptions } from "./config/load.js";
export { parseControl, resolveCwd, safeText, sessionNameFor } from "./control.js";
export { defineControl, type ControlDeclaration, type ControlKey, type ControlKeyInfo, type ControlOf } from "./controls.js";
export { defineProvider } from "./define-provider.js";
export {
  answerKeys,
  parseOptions,
  screenMatches,
  withScreenOverrides,
  type AgentEventSource,
  type AgentProvider,
  type StateRules,
  type ScreenOverrides,
  type DialogRule,
  type PromptRules,
  type ScreenMatch,
  type StopRules,
} from "./provider.js";
export { screensSchema } from "./screens-schema.js";
export { eventCommandArgv, eventFilePath, parseEventLine, EVENT_HOOK_SCRIPT, MAX_EVENT_LINE } from "./agent-events.js";
export { PROTOCOL_VERSION, VERSION } from "./version.js";
export { escapeTerminal, isSecretName, safeJson, sanitizeTyped, UNSAFE_TEXT } from "./text.js";
export { Secrets } from "./secrets.js";
export { describeFsError, ensurePrivateDir } from "./private-dir.js";
export type * from "./types.js";
