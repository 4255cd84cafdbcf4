import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { createHooks, type OrchestratorHooks, type StopReason } from "./hooks.js";
import { pluginContext } from "./plugin-host.js";
import { ControlError, PluginError, errorMessage, isControlError, isPluginError } from "./errors.js";
import { ControlRegistry, type ParsedControl } from "./controls.js";
import { ExitWatcher } from "./exit-watcher.js";
import { Provisions } from "./provisions.js";
import { stopGracefully } from "./stop.js";
import { KeyedLock } from "./lock.js";
import { DaemonLock } from "./lock-file.js";
import { createLogger, type Logger } from "./logger.js";
import { Secrets } from "./secrets.js";
import { ensurePrivateDir } from "./private-dir.js";
import { DEFAULT_PROVIDER, resolveCwd, sessionNameFor } from "./control.js";
import { AgentRegistry, agentFromSession } from "./registry.js";
import { Journal } from "./journal.js";
import { RelaySession, type RelayHost } from "./relay-session.js";
import { StartupWatcher, type StartupOutcome } from "./startup.js";
import { shapeSpawn } from "./spawn-spec.js";
import type { AgentProvider } from "./provider.js";
import type { ResolvedConfig } from "./config/schema.js";
import type { AgentBackend, Plugin, PluginContext, RelayTransport } from "./plugin.js";
import type {
  AgentExit,
  AgentReport,
  ControlRequest,
  ControlResult,
  ManagedAgent,
  SpawnRequest,
  SessionMeta,
} from "./types.js";

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

/** What `spawn` answers: the agent, whether it was already running, and how its start ended. */
export interface SpawnOutcome {
  agent: ManagedAgent;
  existing: boolean;
}

/**
 * The daemon's kernel: applies plugins, owns the managed-agent registry, runs
 * the relay session, the start-up and exit watchers, and dispatches controls.
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
  private readonly locks = new KeyedLock();
  private readonly provided = new Provisions();
  /** The control actions plugins declared, with their fields, keys and handlers. */
  private readonly controls = new ControlRegistry();
  private readonly startup: StartupWatcher;
  private relay?: RelaySession;
  private readonly exits: ExitWatcher;
  /** The message journal (opened by `start`); also records whether typed prompts were delivered. */
  journal?: Journal;
  /** Start-ups being watched, by session: a spawn of a starting agent waits for its outcome. */
  private readonly starting = new Map<string, Promise<StartupOutcome>>();
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
    this.startup = new StartupWatcher(() => this.backend, this.logger.withTag("startup"), options.config.startupPollMs);
    this.exits = new ExitWatcher({
      backend: () => this.backend,
      registry: this.registry,
      locks: this.locks,
      logger: this.logger,
      intervalMs: this.config.watchIntervalMs,
      retentionMs: this.config.exitedRetentionMs,
      hooks: this.hooks,
      changed: () => this.scheduleReport(),
    });
  }

  /** Builds an orchestrator and applies every plugin, in order. */
  static async create(options: OrchestratorOptions): Promise<Orchestrator> {
    const orchestrator = new Orchestrator(options);
    for (const plugin of options.plugins) {
      try {
        await plugin.apply(orchestrator.contextFor(plugin));
      } catch (err) {
        throw isPluginError(err) ? err : new PluginError(plugin.name, "apply", err);
      }
    }
    return orchestrator;
  }

  get backend(): AgentBackend {
    if (!this.provided.backend) throw new Error("no plugin provides an agent backend (the built-in is 'tmux')");
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
   */
  async start(): Promise<void> {
    const keepsState = Boolean(this.provided.backend || this.transport);
    if (keepsState) ensurePrivateDir(this.config.stateDir, "stateDir", (text) => this.logger.warn(text));
    if (this.transport) this.lock.acquire(); // before anything is touched: a second daemon leaves at once
    this.running = true;
    if (keepsState) await this.openJournal();
    if (this.provided.backend) {
      const baseDir = await stat(this.config.baseDir).catch(() => undefined);
      if (!baseDir?.isDirectory()) {
        this.logger.warn(`baseDir ${this.config.baseDir} is not a directory: spawns are refused until it exists (set baseDir, or create it)`);
      }
      await this.recover();
      this.exits.start();
    }
    if (this.transport) {
      this.relay = new RelaySession(this.relayHost(), this.transport, this.logger.withTag("relay"), this.journal!, this.journalLost);
      this.relay.start();
    } else if (this.provided.backend) {
      this.logger.warn("no relay transport configured: agents run, but no controls arrive");
    }
  }

  /** Opens the message journal; a damaged one is kept aside, loudly. */
  private async openJournal(): Promise<void> {
    const journal = new Journal(this.config.stateDir, this.config.id);
    const opened = journal.open(); // throws, naming the cause, when the state folder cannot hold it
    this.journal = journal;
    if (opened.corrupt) {
      this.logger.error(
        `the journal was damaged (${opened.corrupt.reason}) and is kept aside as ${opened.corrupt.keptAs}: ` +
          "which messages were handled, their undelivered answers and typed-prompt records are lost; " +
          "messages the relay has not marked read are handled again as possible replays",
      );
    }
    if (opened.migrated) this.logger.info(`took over the state file ${opened.migrated} into ${journal.path}`);
    this.journalLost = opened.corrupt !== undefined;
  }

  /**
   * Stops the loops and sends a final report. Agents keep running unless
   * `stopAgents` is set: they outlive daemon restarts.
   */
  async stop(options: { stopAgents?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.exits.stop();
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

  /**
   * Starts an agent and waits for its start-up to end. Resolves with the
   * agent once it is ready (or with the running one of the same session);
   * throws `ControlError` ("stuck" or "exited") with the reason otherwise.
   */
  async spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    const provider = request.provider ?? DEFAULT_PROVIDER;
    if (!this.config.providers.includes(provider)) {
      throw new ControlError(
        "provider",
        `provider "${provider}" is not enabled on this host (enabled: ${this.config.providers.join(", ") || "none"})`,
      );
    }
    const label = request.label ?? `${provider}-${Date.now()}`;
    const sessionName = sessionNameFor(this.config.tmuxPrefix, provider, label);
    const started = await this.locks.run(sessionName, () => this.spawnLocked({ ...request, provider, label }, sessionName));
    return this.finishStart(started);
  }

  /** Stops an agent on purpose (gracefully first, as its provider says) and forgets it. */
  async stopAgent(agent: ManagedAgent, reason: StopReason = "shutdown"): Promise<void> {
    await this.locks.run(agent.tmuxSession, () => this.stopLocked(agent.tmuxSession, reason));
  }

  /** Stops an agent (if it runs) and starts it again with the same options, prompt and plugin data; `meta` is merged in. */
  async restart(agent: ManagedAgent, options: { meta?: Record<string, unknown> } = {}): Promise<ManagedAgent> {
    const started = await this.locks.run(agent.tmuxSession, async () => {
      const current = this.registry.get(agent.tmuxSession) ?? agent;
      await this.stopLocked(agent.tmuxSession, "restart");
      const { provider, cwd, label, approvalMode, prompt, meta } = current;
      const request: SpawnRequest = { provider, cwd, label, approvalMode, meta: { ...meta, ...options.meta } };
      if (prompt !== undefined) request.prompt = prompt;
      return this.spawnLocked({ ...request, provider, label }, agent.tmuxSession);
    });
    return (await this.finishStart(started)).agent;
  }

  /** Sets the human-readable detail of an agent's status (e.g. why it will be restarted). */
  annotate(session: string, detail: string): void {
    const agent = this.registry.get(session);
    if (!agent) return;
    agent.detail = detail;
    this.scheduleReport();
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
      agentKey: (target) => this.findAgents(target)[0]?.tmuxSession,
    };
  }

  /** Tells the relay about the agents now, when connected; coalesces bursts. */
  scheduleReport(): void {
    this.relay?.scheduleReport();
  }

  private async spawnLocked(
    request: SpawnRequest & { provider: string; label: string },
    sessionName: string,
  ): Promise<{ agent: ManagedAgent; existing: boolean; outcome?: Promise<StartupOutcome> }> {
    let current = this.registry.get(sessionName);
    if (current && current.status !== "exited" && !request.replace) {
      const outcome = this.starting.get(sessionName);
      return { agent: current, existing: true, ...(outcome ? { outcome } : {}) };
    }
    const { cwd, realCwd } = await resolveCwd(this.config.baseDir, request.cwd);
    if (current && request.replace && current.status !== "exited") {
      await this.stopLocked(sessionName, "restart");
      current = undefined;
    }
    const spec = await shapeSpawn(this.hooks, this.config, { ...request, cwd, realCwd }, sessionName);
    for (const name of spec.secretEnv) this.secrets.add(spec.env[name]);
    if (current) await this.endSession(sessionName); // the exited one's session and any process it left
    const agent: ManagedAgent = {
      agentId: "",
      provider: spec.provider,
      label: spec.label,
      cwd: spec.cwd,
      approvalMode: spec.approvalMode,
      ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
      tmuxSession: sessionName,
      startedAt: Date.now(),
      status: "starting",
      meta: spec.meta,
    };
    this.registry.set(agent);
    try {
      const record: SessionMeta = {
        v: 1,
        orchestratorId: this.config.id,
        provider: agent.provider,
        label: agent.label,
        cwd: agent.cwd,
        approvalMode: agent.approvalMode,
        ...(agent.prompt !== undefined ? { prompt: agent.prompt } : {}),
        startedAt: agent.startedAt,
        ...(Object.keys(spec.meta).length > 0 ? { meta: spec.meta } : {}),
      };
      const { pid } = await this.backend.start(spec, record);
      if (pid !== undefined) agent.pid = pid;
    } catch (err) {
      this.registry.delete(sessionName);
      const duplicate = /duplicate session/i.test(errorMessage(err));
      throw new ControlError(
        "failed",
        duplicate
          ? `could not start ${sessionName}: a session of that name exists that this orchestrator does not manage`
          : `could not start ${sessionName}: ${errorMessage(err)}`,
        { cause: err, retryable: !duplicate },
      );
    }
    this.logger.info(`started ${agent.provider} agent ${sessionName} in ${agent.cwd}`);
    this.scheduleReport();
    if (spec.prompt !== undefined && this.provided.providers.get(spec.provider)?.prompt?.delivery === "type") {
      this.recordPrompt(sessionName, agent.startedAt, false);
    }
    const outcome = this.watchStartup(agent, spec.prompt);
    try {
      await this.hooks.afterSpawn.promise({ ...agent });
    } catch (err) {
      this.logger.warn(errorMessage(err));
    }
    return { agent, existing: false, outcome };
  }

  /** Waits, outside the session's lock, for a start to end; turns a failed start into a `ControlError`. */
  private async finishStart(started: { agent: ManagedAgent; existing: boolean; outcome?: Promise<StartupOutcome> }): Promise<SpawnOutcome> {
    const { agent, existing } = started;
    if (started.outcome) {
      const outcome = await started.outcome;
      if (outcome.status !== "ready") {
        throw new ControlError(outcome.status, `${agent.tmuxSession} ${outcome.detail}`);
      }
    }
    return { agent: { ...agent }, existing };
  }

  /** Watches an agent's start-up and records the outcome on the (live) agent record. */
  private watchStartup(agent: ManagedAgent, prompt: string | undefined): Promise<StartupOutcome> {
    const provider = this.provided.providers.get(agent.provider);
    if (!provider) {
      // A launcher without screen rules: the process running is all we can know.
      agent.status = "ready";
      agent.readyAt = Date.now();
      return Promise.resolve({ status: "ready", readyAt: agent.readyAt });
    }
    const timeoutMs = provider.startTimeoutMs ?? this.config.startTimeoutMs;
    // Each answered dialog shows as the starting agent's detail: `spawn` prints it as progress.
    const onDialog = (id: string) => this.annotate(agent.tmuxSession, `answered dialog "${id}"`);
    const watched = this.startup.watch(agent.tmuxSession, provider, prompt, timeoutMs, onDialog).then(async (outcome) => {
      if (this.starting.get(agent.tmuxSession) === watched) this.starting.delete(agent.tmuxSession);
      if (this.registry.get(agent.tmuxSession) !== agent || agent.status === "stopping") return outcome;
      if (outcome.status === "ready") {
        if (prompt !== undefined && provider.prompt?.delivery === "type") this.recordPrompt(agent.tmuxSession, agent.startedAt, true);
        agent.status = "ready";
        agent.readyAt = outcome.readyAt;
        if (agent.detail?.startsWith("answered dialog")) delete agent.detail; // start-up progress, done
        this.logger.info(`${agent.tmuxSession} is ready (${outcome.readyAt - agent.startedAt} ms)`);
      } else {
        if (outcome.status === "exited") {
          const exit: AgentExit = { lastLines: outcome.lastLines, ...(outcome.code !== undefined ? { code: outcome.code } : {}) };
          return (await this.exits.exited(agent, exit, outcome.detail), outcome);
        }
        agent.status = outcome.status;
        agent.detail = outcome.detail;
        agent.lastLines = outcome.lastLines;
        this.logger.warn(`${agent.tmuxSession} ${outcome.detail}`);
      }
      this.scheduleReport();
      return outcome;
    });
    this.starting.set(agent.tmuxSession, watched);
    return watched;
  }

  /** Journals whether the prompt of one start of a session was typed, so a crash in between does not lose it. */
  private recordPrompt(session: string, startedAt: number, delivered: boolean): void {
    try {
      if (delivered) this.journal?.promptDelivered(session, startedAt);
      else this.journal?.promptPending(session, startedAt);
    } catch (err) {
      this.logger.error(`could not record in the journal whether the prompt of ${session} was typed: ${errorMessage(err)}`);
    }
  }

  private async stopLocked(sessionName: string, reason: StopReason): Promise<void> {
    const agent = this.registry.get(sessionName);
    if (!agent) return;
    const previous = agent.status;
    const wasAlive = previous !== "exited";
    agent.status = "stopping";
    this.startup.forget(sessionName, { status: "exited", detail: "was stopped during start-up", lastLines: [] });
    try {
      if (wasAlive) await stopGracefully(this.backend, sessionName, this.provided.providers.get(agent.provider)?.stop, this.logger);
      await this.endSession(sessionName); // an exited agent's dead session (and any process it left) goes too
    } catch (err) {
      agent.status = previous;
      if (isControlError(err)) throw err;
      throw new ControlError("failed", `could not stop ${sessionName}: ${errorMessage(err)}`, { cause: err, retryable: true });
    }
    this.registry.delete(sessionName);
    this.logger.info(`stopped ${sessionName} (${reason})`);
    try {
      await this.hooks.afterStop.promise({ ...agent }, reason);
    } catch (err) {
      this.logger.warn(errorMessage(err));
    }
    this.scheduleReport();
  }

  /**
   * Ends a session and every process of its agent; throws, naming them, when
   * any is still alive after that (so a restart never runs two copies).
   */
  private async endSession(sessionName: string): Promise<void> {
    const leftovers = (await this.backend.stop(sessionName))?.leftovers ?? [];
    if (leftovers.length === 0) return;
    const list = leftovers.map((p) => `${p.pid} (${p.name})`).join(", ");
    this.logger.error(`${sessionName}: ${leftovers.length} process(es) still alive after SIGKILL: ${list}`);
    throw new ControlError("failed", `could not stop all of ${sessionName}: still alive after SIGKILL: ${list}`);
  }

  /** Takes over the sessions this orchestrator started before it restarted, and checks each one's screen again. */
  private async recover(): Promise<void> {
    const sessions = await this.backend.list();
    let count = 0;
    for (const session of sessions) {
      const found = agentFromSession(session, this.config);
      if (!found) continue;
      const { agent, byName } = found;
      if (byName) this.logger.warn(`recovered ${session.name} by its name (no metadata; started by 0.9.0?)`);
      this.registry.set(agent);
      if (session.dead) {
        await this.exits.reap(agent, session);
        continue;
      }
      if (this.provided.providers.has(agent.provider)) {
        agent.status = "starting";
        // A prompt is typed again only when the journal says this start never got it: never twice.
        const undelivered = agent.prompt !== undefined && this.journal?.promptUndelivered(session.name, agent.startedAt) === true;
        if (undelivered) this.logger.info(`${session.name}: its prompt was not typed before the daemon stopped; typing it once it is ready`);
        void this.watchStartup(agent, undelivered ? agent.prompt : undefined);
      }
      count++;
    }
    if (count > 0) this.logger.info(`recovered ${count} running agent(s)`);
  }

  /** One look at every session (one backend call); records the agents that ended. */
  watchOnce(): Promise<void> {
    return this.exits.lookOnce();
  }

  private contextFor(plugin: Plugin): PluginContext {
    return pluginContext(plugin, {
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
        report: () => this.report(),
        providers: () => this.providers(),
      },
    });
  }
}
