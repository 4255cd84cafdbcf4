/**
 * Data types shared by the core and plugins: the relay wire protocol
 * (PROTOCOL.md, orchestrator protocol version 2) and the spawn pipeline.
 */

/**
 * A control payload as sent by the relay (`payload.orchestratorControl`):
 * the envelope the core checks (`action`, and who asked when), and the
 * fields of the action, checked by the plugin that declares it (see
 * `ControlDeclaration`) and the plugins that extend it.
 */
export interface ControlPayload {
  action: string;
  requestedBy?: string;
  requestedAt?: number;
  [field: string]: unknown;
}

/** A message as returned by `GET /api/messages`. */
export interface RelayMessage {
  id: number;
  body?: string;
  kind?: string;
  createdAt?: number;
  payload?: { orchestratorControl?: unknown; [key: string]: unknown };
  meta?: { orchestratorControl?: unknown; [key: string]: unknown };
}

/**
 * What the relay is told about each agent (`PATCH /api/orchestrators/:id/agents`,
 * and the `agents` of a control's answer). The transport maps it to the wire
 * format (where `session` has another name, see PROTOCOL.md).
 */
export interface AgentReport {
  agentId: string;
  provider: string;
  /** The backend session the agent runs in: the key the core manages it by. */
  session: string;
  cwd: string;
  label?: string;
  approvalMode: string;
  pid?: number;
  startedAt: number;
  status?: AgentStatus;
  /** Exit status, for an `exited` agent whose status is known. */
  exitCode?: number;
  /** When it became ready, and how long that took. */
  readyAt?: number;
  timeToReadyMs?: number;
  /** Why it is stuck or how it ended, in one line. */
  detail?: string;
  /** The screen excerpt of a stuck agent, or the last lines of an exited one. */
  lastLines?: string[];
  /** How often a restart policy has restarted it in a row (added by the restart-policy plugin through `onReport`). */
  restarts?: number;
  /** What it is doing now (see `AgentState`), and since when (epoch ms, this host's clock). */
  state?: AgentState;
  stateSince?: number;
  /** While `blocked`: the question on its screen and the option labels, in screen order. */
  question?: string;
  options?: string[];
}

/** An agent record on the relay (`GET /api/agents`). */
export interface RelayAgentSummary {
  id: string;
  label?: string;
  status?: string;
  ready?: boolean;
  tags?: string[];
  meta?: { cwd?: string; provider?: string; [key: string]: unknown };
}

/**
 * `starting` until the provider's ready screen shows (dialogs answered,
 * prompt delivered), then `ready`; `stuck` when start-up did not finish in
 * time; `exited` when the process ended; `stopping` while it is being stopped.
 */
export type AgentStatus = "starting" | "ready" | "stuck" | "exited" | "stopping";

/** What an agent is doing now. `status` (starting|ready|stuck|exited|stopping) stays for protocol v2. */
export type AgentState = "starting" | "working" | "idle" | "blocked" | "stuck" | "exited" | "stopping";

export interface AgentStateDetail {
  /** blocked: the question on screen (one line) and its option labels, in screen order ("Yes", "No", …). */
  question?: string;
  options?: string[];
  /** stuck / exited: why, one line. */
  detail?: string;
  /** The last non-empty screen lines (≤ 15), secrets redacted by the core before any hook sees them. */
  lastLines?: string[];
  /** What decided this state: the agent's own events, or its screen. */
  source?: "event" | "screen";
}

export interface AgentStateInfo extends AgentStateDetail {
  state: AgentState;
  /** When this state began (epoch ms, this host's clock). */
  since: number;
}

/** One event an agent reported about itself (claude hooks, codex notify), parsed and redacted by the core. */
export interface AgentEvent {
  /** Normalised kind. claude: UserPromptSubmit→"prompt-submit", PreToolUse→"tool-use",
   *  PermissionRequest→"permission-request", Notification→"notification", Stop→"stop",
   *  SessionEnd→"session-end", PostToolUse→"tool-done". codex notify "agent-turn-complete"→"stop". */
  kind: "prompt-submit" | "tool-use" | "tool-done" | "permission-request" | "notification" | "stop" | "session-end";
  at: number;
  /** Small, already-redacted fields: prompt (first 200 chars), toolName, message. Never the whole payload. */
  data: Record<string, string>;
}

/**
 * Everything needed to start one agent. Built by the core from a spawn
 * request, then shaped by the `beforeSpawn` waterfall: the env policy fills
 * `env`, a launcher fills `command`.
 */
export interface SpawnSpec {
  provider: string;
  label: string;
  /** The working directory as requested (absolute, normalised). Reported and recovered as is. */
  cwd: string;
  /** `cwd` with symlinks resolved; where the process really starts. */
  realCwd: string;
  approvalMode: string;
  prompt?: string;
  /** Backend session name, `<prefix>-<provider>-<clean label>`. */
  sessionName: string;
  /** argv of the agent process; empty until a launcher fills it. */
  command: string[];
  /** The complete environment of the agent process. */
  env: Record<string, string>;
  /**
   * Environment the control asked for, untrusted. The env policy moves what
   * it accepts into `env` and empties this; a spawn with any left is refused.
   */
  requestedEnv: Record<string, string>;
  /** Names in `env` whose values are secret: never logged or put on a command line. */
  secretEnv: string[];
  /** Extra data plugins want persisted with the session and restored on recovery. */
  meta: Record<string, unknown>;
  /**
   * Fields of the spawn control that other plugins added (`extendControl`),
   * validated: each plugin reads its own (restart-policy its `restartPolicy`).
   * Empty for a spawn not from a control, and on a restart.
   */
  control: Record<string, unknown>;
}

/** What is persisted with a session so a restarted daemon recovers the agent exactly. */
export interface SessionMeta {
  v: 1;
  orchestratorId: string;
  provider: string;
  label: string;
  cwd: string;
  approvalMode: string;
  prompt?: string;
  startedAt: number;
  meta?: Record<string, unknown>;
}

/** One agent this daemon manages. */
export interface ManagedAgent {
  agentId: string;
  provider: string;
  label: string;
  cwd: string;
  approvalMode: string;
  prompt?: string;
  /** The backend session the agent runs in: the key the core manages it by. */
  session: string;
  pid?: number;
  startedAt: number;
  status: AgentStatus;
  exitCode?: number;
  readyAt?: number;
  detail?: string;
  lastLines?: string[];
  /** When it exited (kept in reports for `exitedRetentionMs`). */
  exitedAt?: number;
  /** Its live state, kept by the core's state watcher (undefined until first recorded). */
  live?: AgentStateInfo;
  meta: Record<string, unknown>;
}

/** How an agent ended, as seen by the backend. */
export interface AgentExit {
  /** Exit status when known; `undefined` when the process vanished without one. */
  code?: number;
  /** The last lines the agent printed. */
  lastLines: string[];
}

/** What a session shows now. */
export interface AgentScreen {
  /** The visible screen, one string per row, trailing spaces removed. */
  lines: string[];
  dead: boolean;
  exitCode?: number;
}

/** A session as listed by a backend. */
export interface BackendSession {
  name: string;
  pid?: number;
  dead: boolean;
  exitCode?: number;
  /** Persisted metadata, when the session was started by this project. */
  meta?: SessionMeta;
  /** Where the pane is now; used only to recover sessions started by 0.9.0. */
  currentPath?: string;
}

/** A spawn request after defaults: what `spawn` and `restart` act on. */
export interface SpawnRequest {
  provider?: string;
  cwd?: string;
  label?: string;
  approvalMode?: string;
  prompt?: string;
  /** Replace a running agent of the same session instead of answering with it. */
  replace?: boolean;
  /** Plugin data to keep with the agent (persisted with its session), e.g. its restart policy. */
  meta?: Record<string, unknown>;
  /** Environment the control asked for: untrusted until the env policy accepts it. */
  env?: Record<string, string>;
  /** Fields of the spawn control added by other plugins (see `SpawnSpec.control`). */
  control?: Record<string, unknown>;
}

/** The answer to one control message. */
export type ControlResult =
  | { ok: true; action: string; message: string; agents: AgentReport[] }
  | { ok: false; action: string; error: string; code: string; retryable?: boolean };

/** What the core passes to `onControl`. */
export interface ControlRequest {
  messageId?: number;
  control: ControlPayload;
  /** When the control was sent (epoch ms), as the relay stamped it (its clock): stable across deliveries. */
  createdAt?: number;
  /** `createdAt` on this host's clock (the relay's measured clock offset taken off): compare it with agents' `startedAt`. */
  createdAtLocal?: number;
  /**
   * True when this control may have had its effect already: handling began
   * before a crash, or an earlier attempt failed. Handlers answer a replayed
   * control by what is now true (the agent already stopped, already restarted).
   */
  replay?: boolean;
}

/** Contributions gathered through `onHeartbeat`. */
export interface HeartbeatInfo {
  kind: "register" | "heartbeat";
  /** Plugins add fields here; they are sent in the registration's `meta`. */
  meta: Record<string, unknown>;
}

/** What `onConnected` receives: this daemon's id and the relay it registered with. */
export interface ConnectedInfo {
  id: string;
  relayUrl: string;
}

/** What the core registers with the relay. */
export interface Registration {
  id: string;
  hostname: string;
  providers: string[];
  baseDir: string;
  envKeys: string[];
  version: string;
  protocolVersion: number;
  gitSha?: string;
  /** The prefix of this host's session names (`<prefix>-<provider>-<label>`); the transport sends it as the protocol names it. */
  sessionPrefix: string;
  meta: Record<string, unknown>;
}

/** One line of `doctor`. */
export interface DoctorCheck {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
}
