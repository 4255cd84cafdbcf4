import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { createHooks, type OrchestratorHooks, type StopReason } from "./hooks.js";
import { applyPlugins, checkDaemonRoles, type PluginHost } from "./plugin-host.js";
import { ControlError, errorMessage } from "./errors.js";
import { ControlRegistry, type ParsedControl } from "./controls.js";
import { ExitWatcher } from "./exit-watcher.js";
import { Provisions } from "./provisions.js";
import { AgentLocks } from "./lock.js";
import { DaemonLock } from "./lock-file.js";
import { createLogger, type Logger } from "./logger.js";
import { Secrets } from "./secrets.js";
import { ensurePrivateDir } from "./private-dir.js";
import { AgentRegistry } from "./registry.js";
import type { Journal } from "./journal.js";
import { RelaySession, type RelayHost } from "./relay-session.js";
import { StartupWatcher } from "./startup.js";
import { StateWatcher } from "./state-watcher.js";
import { Starts } from "./starts.js";
import { AgentLifecycle, type SpawnOutcome } from "./lifecycle.js";
import { openJournal, recoverAgents } from "./recovery.js";
import type { AgentProvider } from "./provider.js";
import type { ResolvedConfig } from "./config/schema.js";
import type { AgentBackend, Plugin, RelayTransport } from "./plugin.js";
import { stateOf } from "./live-state.js";
import type { AgentReport, AgentStateInfo, ControlRequest, ControlResult, ManagedAgent, SpawnRequest } from "./types.js";

export type { SpawnOutcome } from "./lifecycle.js";

export interface OrchestratorOptions {
  config: ResolvedConfig;
  /** Every plugin to apply, built-ins included (see `plugins/defaults.ts`). */
  plugins: readonly Plugin[];
  logger?: Logger;
  /**
   * The secret values to redact from logs, answers and reports; the relay
   * token is added. Hand in the same set the logger redacts with.
   */
  secrets?: Secrets;
}

/**
 * The daemon's kernel: applies plugins, owns the managed agents (their
 * registry and their locks), and runs the parts that act on them: starting
 * and stopping (`AgentLifecycle`), start-ups (`Starts`), exits
 * (`ExitWatcher`), recovery at start (`recoverAgents`), and the relay
 * session that brings controls.
 */
export class Orchestrator {
  /**
   * Every hook, unscoped: for the core, the CLI and tests. Not public API:
   * a plugin taps the scoped hooks its `apply` receives (errors stamped with
   * its name, taps that can be removed).
   */
  readonly hooks: OrchestratorHooks = createHooks();
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly secrets: Secrets;
  private readonly registry = new AgentRegistry();
  /** One lock per agent, by session name: its changes and the controls about it take turns. */
  private readonly locks = new AgentLocks();
  private readonly provided = new Provisions();
  /** The control actions plugins declared, with their fields, keys and handlers. */
  private readonly controls = new ControlRegistry();
  private readonly exits: ExitWatcher;
  private readonly starts: Starts;
  private readonly lifecycle: AgentLifecycle;
  private readonly states: StateWatcher;
  private relay?: RelaySession;
  /** The message journal (opened by `start`); also records whether typed prompts were delivered. */
  journal?: Journal;
  private journalLost = false;
  private running = false;
  /** This process's run of the daemon, told to the relay so that it can refuse a second live one with the same id. */
  readonly instanceId = randomUUID();
  /** Held while a daemon (a core with a transport) runs: one per id and state folder. */
  readonly lock: DaemonLock;
  /** Settles when the daemon cannot go on (another instance owns its id at the relay); the CLI exits on it. */
  readonly failed: Promise<Error>;
  private failWith!: (err: Error) => void;

  private constructor(options: OrchestratorOptions) {
    this.config = options.config;
    this.secrets = options.secrets ?? new Secrets();
    this.secrets.add(options.config.token);
    this.lock = new DaemonLock(options.config.stateDir, options.config.id, this.instanceId);
    this.failed = new Promise((resolve) => (this.failWith = resolve));
    this.logger = options.logger ?? createLogger({ level: options.config.logLevel, secrets: () => this.secrets });
    const { config, registry, hooks, logger, secrets, locks } = this;
    const backend = () => this.backend;
    const providers = () => this.providers();
    const changed = () => {
      this.states.sync(); // a start, stop or exit is a state change at once
      this.scheduleReport();
    };
    const startup = new StartupWatcher(backend, logger.withTag("startup"), config.startupPollMs);
    const { watchIntervalMs: intervalMs, exitedRetentionMs: retentionMs, startTimeoutMs } = config;
    this.exits = new ExitWatcher({ backend, registry, locks, logger, intervalMs, retentionMs, hooks, changed });
    this.starts = new Starts({ registry, startup, exits: this.exits, logger, startTimeoutMs, providers, journal: () => this.journal, changed });
    const { tickMs = 250, idleTickMs = 5_000, disagreeMs = 3_000, stuckAfterMs = 600_000 } = config.states ?? {};
    const report = () => this.scheduleReport();
    this.states = new StateWatcher({ registry, backend, providers, hooks, secrets, logger: logger.withTag("state"), stateDir: config.stateDir, tickMs, idleTickMs: Math.max(idleTickMs, tickMs), disagreeMs, stuckAfterMs, report });
    this.lifecycle = new AgentLifecycle({ config, hooks, registry, locks, secrets, logger, startup, starts: this.starts, backend, providers, changed });
  }

  /** Builds an orchestrator and applies every plugin, in order. */
  static async create(options: OrchestratorOptions): Promise<Orchestrator> {
    const orchestrator = new Orchestrator(options);
    await applyPlugins(options.plugins, orchestrator.pluginHost());
    return orchestrator;
  }

  get backend(): AgentBackend {
    if (!this.provided.backend) throw new Error("no plugin provides an agent backend (a plugin with the role 'backend')");
    return this.provided.backend.backend;
  }

  get transport(): RelayTransport | undefined {
    return this.provided.transport?.transport;
  }

  providers(): ReadonlyMap<string, AgentProvider> {
    return this.provided.providers;
  }

  /**
   * Recovers running agents and starts the exit watcher (when a backend is
   * provided), then the relay session (when a transport is provided).
   * `daemon` (the CLI's `run` and `up`): first checks that plugins provide a
   * backend, a transport and the protocol's controls (`checkDaemonRoles`).
   */
  async start(options: { daemon?: boolean } = {}): Promise<void> {
    if (options.daemon) checkDaemonRoles({ provided: this.provided, controls: this.controls });
    const keepsState = Boolean(this.provided.backend || this.transport);
    if (keepsState) ensurePrivateDir(this.config.stateDir, "stateDir", (text) => this.logger.warn(text));
    if (this.transport) this.lock.acquire(); // before anything is touched: a second daemon leaves at once
    this.running = true;
    if (keepsState) ({ journal: this.journal, lost: this.journalLost } = openJournal(this.config, this.logger));
    if (this.provided.backend) {
      const baseDir = await stat(this.config.baseDir).catch(() => undefined);
      if (!baseDir?.isDirectory()) {
        this.logger.warn(`baseDir ${this.config.baseDir} is not a directory: spawns are refused until it exists (set baseDir, or create it)`);
      }
      const { config, backend, registry, exits, starts, logger } = this;
      await recoverAgents({ config, backend, registry, exits, starts, providers: this.providers(), logger });
      this.exits.start();
      this.states.start();
    }
    if (this.transport) {
      this.relay = new RelaySession(this.relayHost(), this.transport, this.logger.withTag("relay"), this.journal!, this.journalLost);
      this.relay.start();
    } else if (this.provided.backend) {
      this.logger.warn("no relay transport configured: agents run, but no controls arrive");
    }
  }

  /**
   * Stops the loops and sends a final report. Agents keep running unless
   * `stopAgents` is set: they outlive daemon restarts.
   */
  async stop(options: { stopAgents?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.exits.stop();
    await this.states.stop();
    if (options.stopAgents) await Promise.all(this.agents().map((agent) => this.stopAgent(agent, "shutdown")));
    await this.relay?.close();
    this.journal?.close();
    for (const close of [...this.provided.closers].reverse()) {
      try {
        await close();
      } catch (err) {
        this.logger.warn(`close handler failed: ${errorMessage(err)}`);
      }
    }
    this.lock.release();
  }

  /** Ends the daemon for a reason it cannot recover from: `failed` settles with `err`. */
  fail(err: Error): void {
    this.logger.error(err.message);
    this.failWith(err);
  }

  agents(): ManagedAgent[] {
    return this.registry.snapshot();
  }

  findAgents(target: string): ManagedAgent[] {
    return this.registry.find(target);
  }

  /** The agents as the relay sees them; secret values redacted (an agent may print them). */
  report(): AgentReport[] {
    const reports = this.registry.reports().map(({ agent, report }) => this.hooks.onReport.call(report, { ...agent, meta: { ...agent.meta } }));
    return this.secrets.redactDeep(reports);
  }

  /** The live state of an agent (by session), redacted; undefined when it is not managed. */
  state(session: string): AgentStateInfo | undefined {
    const agent = this.registry.get(session);
    return agent ? this.secrets.redactDeep(stateOf(agent)) : undefined;
  }

  /** Starts an agent and waits for its start-up to end (see `AgentLifecycle.spawn`). */
  spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    return this.lifecycle.spawn(request);
  }

  /** Stops an agent on purpose (gracefully first, as its provider says) and forgets it. */
  stopAgent(agent: ManagedAgent, reason: StopReason = "shutdown"): Promise<void> {
    return this.lifecycle.stop(agent, reason);
  }

  /** Stops an agent (if it runs) and starts it again with the same options, prompt and plugin data; `meta` is merged in. */
  restart(agent: ManagedAgent, options: { meta?: Record<string, unknown> } = {}): Promise<ManagedAgent> {
    return this.lifecycle.restart(agent, options);
  }

  /** Sets the human-readable detail of an agent's status (e.g. why it will be restarted). */
  annotate(session: string, detail: string): void {
    const agent = this.registry.get(session);
    if (!agent) return;
    agent.detail = detail;
    this.scheduleReport();
  }

  /** Sends keys or literal text to a managed agent's session (see `OrchestratorApi.sendKeys`). */
  async sendKeys(session: string, keys: readonly string[], options?: { literal?: boolean }): Promise<void> {
    if (!this.registry.get(session)) throw new ControlError("not_found", `no managed agent has the session "${session}"`);
    await this.backend.sendKeys(session, keys, options);
  }

  /**
   * Answers one control payload: checked against its declaration, then
   * answered by the plugin that declared it (or an `onControl` tap); an
   * invalid control, an action nobody answers, and anything thrown become
   * error answers. Never throws.
   */
  async dispatch(control: unknown, context: Omit<ControlRequest, "control"> = {}): Promise<ControlResult> {
    let parsed;
    try {
      parsed = this.parseControl(control);
    } catch (err) {
      const action = typeof (control as { action?: unknown })?.action === "string" ? String((control as { action: string }).action) : "unknown";
      return this.secrets.redactDeep({ ok: false, action: /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(action) ? action : "unknown", code: "invalid", error: errorMessage(err) });
    }
    return this.controls.dispatch(this.hooks, this.secrets, parsed, context);
  }

  /** Checks a control payload against its action's declaration (and extensions); throws `ControlError("invalid")` naming the field. */
  parseControl(control: unknown): ParsedControl {
    return this.controls.parse(control);
  }

  /** What the relay session needs of the daemon. */
  private relayHost(): RelayHost {
    const self = this;
    return {
      config: this.config,
      hooks: this.hooks,
      instanceId: this.instanceId,
      get previousInstanceId() {
        return self.lock.previousInstanceId;
      },
      maxMessageAgeMs: this.config.maxMessageAgeMs,
      fail: (err) => this.fail(err),
      report: () => this.report(),
      parseControl: (message) => this.controls.parseMessage(message),
      controlKey: (parsed, info) => this.controls.keyOf(parsed, info),
      dispatchParsed: (parsed, context) => this.controls.dispatch(this.hooks, this.secrets, parsed, context),
      agentKey: (target) => this.findAgents(target)[0]?.session,
      locks: this.locks,
    };
  }

  /** Tells the relay about the agents now, when connected; coalesces bursts. */
  scheduleReport(): void {
    this.relay?.scheduleReport();
  }

  /** One look at every session (one backend call); records the agents that ended. */
  watchOnce(): Promise<void> {
    return this.exits.lookOnce();
  }

  /** What plugins are lent: the hooks, the provisions and controls they fill, and the API they call. */
  private pluginHost(): PluginHost {
    return {
      config: this.config,
      hooks: this.hooks,
      logger: this.logger,
      provided: this.provided,
      controls: this.controls,
      secrets: this.secrets,
      api: {
        agents: () => this.agents(),
        findAgents: (target) => this.findAgents(target),
        spawn: (request) => this.spawn(request),
        stop: (agent) => this.stopAgent(agent),
        restart: (agent, options) => this.restart(agent, options),
        annotate: (session, detail) => this.annotate(session, detail),
        sendKeys: (session, keys, options) => this.sendKeys(session, keys, options),
        screen: async (session) => (this.registry.get(session) ? (await this.backend.screens([session])).get(session) : undefined),
        report: () => this.report(),
        providers: () => this.providers(),
        state: (session) => this.state(session),
      },
    };
  }
}
