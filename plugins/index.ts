/**
 * The built-in plugins, for code that wraps or composes them
 * (`import { tmuxPlugin, builtinPlugins } from "agent-relay-orchestrator/plugins"`).
 */
export { builtinPlugins, resolvePlugins } from "./defaults.js";
export { claudePlugin, CLAUDE_PLUGIN, CLAUDE_SCREENS, DEFAULT_CLAUDE_PROMPT, type ClaudeOptions } from "./claude/index.js";
export { codexPlugin, CODEX_PLUGIN, CODEX_SCREENS, CODEX_APPROVAL_ARGS, type CodexOptions } from "./codex/index.js";
export { controlsPlugin, CONTROLS_PLUGIN, DEFAULT_PROVIDER } from "./controls/index.js";
export { envPolicyPlugin, ENV_POLICY_PLUGIN, DEFAULT_ALLOW, DEFAULT_DENY, NEVER_FROM_CONTROL, type EnvPolicyOptions } from "./env-policy/index.js";
export { messagesPlugin, MESSAGES_PLUGIN, DEFAULT_TTL_MS, type MessagesOptions } from "./messages/index.js";
export { relayHttpPlugin, RELAY_HTTP_PLUGIN } from "./relay-http/index.js";
/** The relay server is a component the `relay` and `up` commands run, not a plugin. */
export { RelayServer, RELAY_SERVER_CONFIG } from "./relay-server/index.js";
export { restartPolicyPlugin, RESTART_POLICY_PLUGIN, type RestartPolicyOptions } from "./restart-policy/index.js";
export { tmuxPlugin, TMUX_PLUGIN, type TmuxPluginOptions } from "./tmux/index.js";
