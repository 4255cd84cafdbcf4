import type { z } from "zod";
import type { ControlDeclaration } from "./controls.js";
import type { PluginHooks } from "./hooks.js";
import type { Logger } from "./logger.js";
import type { PluginConfigSpec, ResolvedConfig } from "./config/schema.js";
import type { AgentProvider } from "./provider.js";
import type {
  AgentReport,
  AgentScreen,
  AgentStateInfo,
  ControlResult,
  BackendSession,
  ManagedAgent,
  RelayMessage,
  Registration,
  SessionMeta,
  SpawnRequest,
  SpawnSpec,
} from "./types.js";

/**
 * Where agents run. Exactly one plugin provides it (the built-in one is
 * `tmux`). Every method must be safe to call concurrently.
 */
export interface AgentBackend {
  /**
   * Starts the agent described by a finished spec. Resolves once the process
   * exists. `record` is what the backend must keep with the session, as is,
   * and give back as `BackendSession.meta` from `list()`: a restarted daemon
   * recovers the agent exactly from it (provider, label, cwd, approval mode,
   * prompt, start time, plugin data). Throws a `ControlError` to say why a
   * start cannot succeed (e.g. a session of that name that this daemon does
   * not manage: `failed`, not retryable); anything else thrown counts as a
   * failure that may pass.
   */
  start(spec: SpawnSpec, record: SessionMeta): Promise<{ pid?: number }>;
  /** All sessions this backend can see, in one call. */
  list(): Promise<BackendSession[]>;
  /**
   * Ends a session and every process of its agent (SIGTERM, then SIGKILL),
   * including any that left its process group, then checks that none is
   * left; answers those still alive (nothing, normally). Resolves quietly
   * when the session is already gone. Signals only processes the backend
   * started.
   */
  stop(sessionName: string): Promise<StopOutcome | void>;
  /** The last `lines` lines of a session's screen and scrollback. */
  capture(sessionName: string, lines: number): Promise<string[]>;
  /**
   * What each named session shows now, in one call however many are named.
   * A session that does not exist is missing from the answer.
   */
  screens(sessionNames: readonly string[]): Promise<Map<string, AgentScreen>>;
  /** Sends key presses (tmux key names such as `Enter`, `C-c`, `Down`), or `literal` text. */
  sendKeys(sessionName: string, keys: readonly string[], options?: { literal?: boolean }): Promise<void>;
  /**
   * Calls `listener` soon after an agent's process ends, where the backend
   * can tell (the core then looks at once instead of at its next round).
   */
  onExit?(listener: () => void): void;
  /** The argv that attaches a terminal to a session, where the backend allows that. */
  attachCommand?(sessionName: string): string[];
}

/** What `AgentBackend.stop` left behind. */
export interface StopOutcome {
  /** Processes of the agent still alive after SIGKILL. */
  leftovers: LeftoverProcess[];
}

/** A process of an agent, by pid and name (never its arguments: they may hold secrets). */
export interface LeftoverProcess {
  pid: number;
  name: string;
}

/** An error from the relay with its HTTP status, when there was one. */
export class RelayRequestError extends Error {
  override name = "RelayRequestError";
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * How the daemon talks to the relay. Exactly one plugin provides it (the
 * built-in one is `relay-http`). Methods throw `RelayRequestError` on failure.
 */
export interface RelayTransport {
  register(registration: Registration): Promise<void>;
  /**
   * True when `fetchMessages` itself waits for messages to arrive (long-poll);
   * the core then polls again at once instead of pausing `pollIntervalMs`.
   */
  readonly longPolling?: boolean;
  /**
   * The identity of the relay's message sequence (created with its storage),
   * as announced by the last registration answer or poll; undefined for a
   * relay that has none (plain protocol v2). A new epoch means the ids start over.
   */
  readonly epoch?: string;
  /**
   * The relay's clock minus this host's, in ms, measured from its last answer
   * (its `Date` header); undefined until measured. Message ages use the relay's clock.
   */
  readonly clockOffsetMs?: number;
  /** Ends a `fetchMessages` that is waiting for messages (the daemon is stopping). */
  interrupt?(): void;
  /** Sends a control's answer to the relay, where the relay takes answers; otherwise does nothing. */
  answer?(messageId: number, result: ControlResult): Promise<void>;
  /** Tells the relay this host is alive; `meta` (from `onHeartbeat`, may be empty) goes along where the relay takes it. */
  heartbeat(meta?: Record<string, unknown>): Promise<void>;
  /** The id of the newest message on the relay (`GET /messages/cursor`). */
  latestMessageId(): Promise<number>;
  /** Unread messages for this orchestrator with an id above `sinceId`. */
  fetchMessages(sinceId: number): Promise<RelayMessage[]>;
  ack(messageId: number): Promise<void>;
  report(agents: AgentReport[]): Promise<void>;
}

/** What the core offers a plugin besides hooks. */
export interface OrchestratorApi {
  /** A snapshot of the managed agents. */
  agents(): ManagedAgent[];
  /** Agents matching an agentId, session name or label. */
  findAgents(target: string): ManagedAgent[];
  /** Starts an agent and waits for its start-up (throws `ControlError` when it is stuck or exits), or returns the running one of the same session. */
  spawn(request: SpawnRequest): Promise<{ agent: ManagedAgent; existing: boolean }>;
  /** Stops an agent on purpose and forgets it. */
  stop(agent: ManagedAgent): Promise<void>;
  /** Stops an agent and starts it again with the same options, prompt included; `meta` is merged into its plugin data. */
  restart(agent: ManagedAgent, options?: { meta?: Record<string, unknown> }): Promise<ManagedAgent>;
  /** Sets the one-line detail shown with an agent's status in reports and `ps`. */
  annotate(session: string, detail: string): void;
  /**
   * Sends key presses (tmux key names such as `Enter`, `1`) or `literal` text
   * to a managed agent's session, through the backend (`AgentBackend.sendKeys`:
   * literal text with a newline goes in as one bracketed paste). Throws
   * `ControlError("not_found")` for a session this daemon does not manage.
   * Text from outside must go through `sanitizeTyped` first.
   */
  sendKeys(session: string, keys: readonly string[], options?: { literal?: boolean }): Promise<void>;
  /** What a managed agent's session shows now (one backend call), or undefined when it has none. */
  screen(session: string): Promise<AgentScreen | undefined>;
  /** The relay's view of this host's agents as it should be now. */
  report(): AgentReport[];
  /** The providers that plugins added, by name. */
  providers(): ReadonlyMap<string, AgentProvider>;
  /** The live state of an agent (by session), or undefined when it is not managed. */
  state(session: string): AgentStateInfo | undefined;
}

/** Everything a plugin's `apply` receives. */
export interface PluginContext {
  readonly config: ResolvedConfig;
  readonly hooks: PluginHooks;
  /** A logger tagged with the plugin's name; writes to stderr. */
  readonly logger: Logger;
  readonly orchestrator: OrchestratorApi;
  /** Provides the agent backend. Only one plugin may; one lacking a method of `AgentBackend` is refused. */
  provideBackend(backend: AgentBackend): void;
  /** Provides the relay transport. Only one plugin may; one lacking a method of `RelayTransport` is refused. */
  provideTransport(transport: RelayTransport): void;
  /** Adds a provider (see `defineProvider`); one plugin per provider name. */
  provideProvider(provider: AgentProvider): void;
  /**
   * Declares a control action this plugin answers: its fields (a zod shape),
   * the agent it is ordered by, and its handler. One plugin per action; an
   * action nobody declares (and no `onControl` tap answers) gets `unknown_action`.
   */
  provideControl<F extends z.ZodRawShape>(declaration: ControlDeclaration<F>): void;
  /**
   * Adds fields this plugin owns to another plugin's control (e.g. `restartPolicy`
   * to `spawn`): they are validated with the control and reach its handler;
   * `spawn` passes them on in `SpawnSpec.control`.
   */
  extendControl(action: string, fields: z.ZodRawShape): void;
  /** Runs when the daemon stops, in reverse order of registration. */
  onClose(fn: () => void | Promise<void>): void;
  /**
   * Marks a value secret: from now on it is replaced with `***` in every log
   * line, control answer and agent report. (Values a spawn's env policy lists
   * in `SpawnSpec.secretEnv` are added by the core.)
   */
  addSecret(value: string): void;
}

export interface Plugin {
  /** Unique name; a user plugin with a built-in's name replaces the built-in. */
  name: string;
  /**
   * What the plugin is, e.g. `backend`, `transport`, `controls`,
   * `env-policy` or `launcher:<provider>`. A user plugin with a built-in's
   * role replaces it. A daemon (`run`, `up`) refuses to start unless plugins
   * provide a backend, a transport and the controls `spawn`, `restart` and
   * `shutdown` (see `checkDaemonRoles`).
   */
  role?: string;
  /** The config section the plugin owns (see `PluginConfigSpec`); read it with `readPluginOptions`. */
  config?: PluginConfigSpec;
  apply(ctx: PluginContext): void | Promise<void>;
}

/** Identity helper that types a plugin. */
export function definePlugin<P extends Plugin>(plugin: P): P {
  return plugin;
}
