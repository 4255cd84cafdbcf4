import { createHooks, scopeHooks, type OrchestratorHooks, type StopReason } from "./hooks.js";
import { ControlError, PluginError, errorMessage, rootCause } from "./errors.js";
import { KeyedLock } from "./lock.js";
import { createLogger, type Logger } from "./logger.js";
import { resolveCwd, sessionNameFor } from "./control.js";
import { RelaySession } from "./relay-session.js";
import type { ResolvedConfig } from "./config/schema.js";
import type { AgentBackend, OrchestratorApi, Plugin, PluginContext, RelayTransport } from "./plugin.js";
import type {
  AgentExit,
  AgentReport,
  BackendSession,
  ControlPayload,
  ControlResult,
  ManagedAgent,
  SpawnRequest,
  SpawnSpec,
} from "./types.js";

export interface OrchestratorOptions {
  config: ResolvedConfig;
  /** Every plugin to apply, built-ins included (see `plugins/defaults.ts`). */
  plugins: readonly Plugin[];
  logger?: Logger;
}

/**
 * The daemon's kernel: applies plugins, owns the managed-agent registry, runs
 * the relay session and the exit watcher, and dispatches controls.
 */
export class Orchestrator {
  readonly hooks: OrchestratorHooks = createHooks();
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  private readonly registry = new Map<string, ManagedAgent>();
  private readonly locks = new KeyedLock();
  private readonly closers: Array<() => void | Promise<void>> = [];
  private backendImpl?: { plugin: string; backend: AgentBackend };
  private transportImpl?: { plugin: string; transport: RelayTransport };
  private relay?: RelaySession;
  private watchTimer?: NodeJS.Timeout;
  private watching?: Promise<void>;
  private running = false;

  private constructor(options: OrchestratorOptions) {
    this.config = options.config;
    this.logger =
      options.logger ??
      createLogger({ level: options.config.logLevel, secrets: () => (options.config.token ? [options.config.token] : []) });
  }

  /** Builds an orchestrator and applies every plugin, in order. */
  static async create(options: OrchestratorOptions): Promise<Orchestrator> {
    const orchestrator = new Orchestrator(options);
    for (const plugin of options.plugins) {
      try {
        await plugin.apply(orchestrator.contextFor(plugin));
      } catch (err) {
        throw err instanceof PluginError ? err : new PluginError(plugin.name, "apply", err);
      }
    }
    return orchestrator;
  }

  get backend(): AgentBackend {
    if (!this.backendImpl) throw new Error("no plugin provides an agent backend (the built-in is 'tmux')");
    return this.backendImpl.backend;
  }

  get transport(): RelayTransport | undefined {
    return this.transportImpl?.transport;
  }

  /**
   * Recovers running agents and starts the exit watcher (when a backend is
   * provided), then the relay session (when a transport is provided).
   */
  async start(): Promise<void> {
    this.running = true;
    if (this.backendImpl) {
      await this.recover();
      this.scheduleWatch();
    }
    if (this.transport) {
      this.relay = new RelaySession(this, this.transport, this.logger.withTag("relay"));
      this.relay.start();
    } else if (this.backendImpl) {
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
    clearTimeout(this.watchTimer);
    await this.watching;
    if (options.stopAgents) {
      await Promise.all(this.agents().map((agent) => this.stopAgent(agent, "shutdown")));
    }
    await this.relay?.close();
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch (err) {
        this.logger.warn(`close handler failed: ${errorMessage(err)}`);
      }
    }
  }

  agents(): ManagedAgent[] {
    return [...this.registry.values()].map((agent) => ({ ...agent }));
  }

  findAgents(target: string): ManagedAgent[] {
    return this.agents().filter(
      (a) => (a.agentId !== "" && a.agentId === target) || a.tmuxSession === target || a.label === target,
    );
  }

  report(): AgentReport[] {
    return [...this.registry.values()].map((a) => ({
      agentId: a.agentId,
      provider: a.provider,
      tmuxSession: a.tmuxSession,
      cwd: a.cwd,
      label: a.label,
      approvalMode: a.approvalMode,
      ...(a.pid !== undefined ? { pid: a.pid } : {}),
      startedAt: a.startedAt,
      status: a.status,
    }));
  }

  async spawn(request: SpawnRequest): Promise<{ agent: ManagedAgent; existing: boolean }> {
    const provider = request.provider ?? "claude";
    if (!this.config.providers.includes(provider)) {
      throw new ControlError(
        "provider",
        `provider "${provider}" is not enabled on this host (enabled: ${this.config.providers.join(", ") || "none"})`,
      );
    }
    const label = request.label ?? `${provider}-${Date.now()}`;
    const sessionName = sessionNameFor(this.config.tmuxPrefix, provider, label);
    return this.locks.run(sessionName, () => this.spawnLocked({ ...request, provider, label }, sessionName));
  }

  /** Stops an agent on purpose and forgets it. */
  async stopAgent(agent: ManagedAgent, reason: StopReason = "shutdown"): Promise<void> {
    await this.locks.run(agent.tmuxSession, () => this.stopLocked(agent.tmuxSession, reason));
  }

  async restart(agent: ManagedAgent): Promise<ManagedAgent> {
    return this.locks.run(agent.tmuxSession, async () => {
      const current = this.registry.get(agent.tmuxSession) ?? agent;
      await this.stopLocked(agent.tmuxSession, "restart");
      const { provider, cwd, label, approvalMode, prompt } = current;
      const result = await this.spawnLocked({ provider, cwd, label, approvalMode, prompt }, agent.tmuxSession);
      return result.agent;
    });
  }

  /**
   * Answers one control: `onControl` decides; an action nobody answers, and
   * anything thrown, become error answers. Never throws.
   */
  async dispatch(control: ControlPayload, messageId?: number): Promise<ControlResult> {
    try {
      const result = await this.hooks.onControl.promise({ control, ...(messageId !== undefined ? { messageId } : {}) });
      if (result) return result;
      return { ok: false, action: control.action, code: "unknown_action", error: `unknown action "${control.action}"` };
    } catch (err) {
      return { ok: false, action: control.action, ...describeFailure(err) };
    }
  }

  /** Tells the relay about the agents now, when connected; coalesces bursts. */
  scheduleReport(): void {
    this.relay?.scheduleReport();
  }

  private async spawnLocked(request: SpawnRequest & { provider: string; label: string }, sessionName: string) {
    const running = this.registry.get(sessionName);
    if (running) return { agent: { ...running }, existing: true };
    const { cwd, realCwd } = await resolveCwd(this.config.baseDir, request.cwd);
    const initial: SpawnSpec = {
      provider: request.provider,
      label: request.label,
      cwd,
      realCwd,
      approvalMode: request.approvalMode ?? "guarded",
      ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
      sessionName,
      command: [],
      env: {},
      secretEnv: [],
      meta: {},
    };
    const spec = await this.hooks.beforeSpawn.promise(initial);
    if (spec.command.length === 0 || !spec.command[0]) {
      throw new ControlError("provider", `no launcher plugin handles provider "${spec.provider}"`);
    }
    if (spec.sessionName !== sessionName) {
      throw new ControlError("failed", "a beforeSpawn plugin changed the session name; that is not allowed");
    }
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
    this.registry.set(sessionName, agent);
    try {
      const { pid } = await this.backend.start({ ...spec, meta: { ...spec.meta, startedAt: agent.startedAt } });
      if (pid !== undefined) agent.pid = pid;
    } catch (err) {
      this.registry.delete(sessionName);
      throw new ControlError("failed", `could not start ${sessionName}: ${errorMessage(err)}`, { cause: err });
    }
    agent.status = "running";
    this.logger.info(`spawned ${agent.provider} agent ${sessionName} in ${agent.cwd}`);
    try {
      await this.hooks.afterSpawn.promise({ ...agent });
    } catch (err) {
      this.logger.warn(errorMessage(err));
    }
    this.scheduleReport();
    return { agent: { ...agent }, existing: false };
  }

  private async stopLocked(sessionName: string, reason: StopReason): Promise<void> {
    const agent = this.registry.get(sessionName);
    if (!agent) return;
    agent.status = "stopping";
    try {
      await this.backend.stop(sessionName);
    } catch (err) {
      agent.status = "running";
      throw new ControlError("failed", `could not stop ${sessionName}: ${errorMessage(err)}`, { cause: err });
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

  /** Takes over the sessions this orchestrator started before it restarted. */
  private async recover(): Promise<void> {
    const sessions = await this.backend.list();
    let count = 0;
    for (const session of sessions) {
      const agent = this.agentFromSession(session);
      if (!agent) continue;
      if (session.dead) {
        await this.reapExited(agent, session);
        continue;
      }
      this.registry.set(agent.tmuxSession, agent);
      count++;
    }
    if (count > 0) this.logger.info(`recovered ${count} running agent(s)`);
  }

  private agentFromSession(session: BackendSession): ManagedAgent | undefined {
    const meta = session.meta;
    if (meta) {
      if (meta.orchestratorId !== this.config.id) return undefined;
      return {
        agentId: "",
        provider: meta.provider,
        label: meta.label,
        cwd: meta.cwd,
        approvalMode: meta.approvalMode,
        ...(meta.prompt !== undefined ? { prompt: meta.prompt } : {}),
        tmuxSession: session.name,
        ...(session.pid !== undefined ? { pid: session.pid } : {}),
        startedAt: meta.startedAt,
        status: "running",
        meta: meta.meta ?? {},
      };
    }
    // A session started by 0.9.0 carries no metadata: fall back to its name.
    const prefix = `${this.config.tmuxPrefix}-`;
    if (!session.name.startsWith(prefix)) return undefined;
    const rest = session.name.slice(prefix.length);
    const provider = this.config.providers.find((p) => rest.startsWith(`${p}-`));
    if (!provider) return undefined;
    this.logger.warn(`recovered ${session.name} by its name (no metadata; started by 0.9.0?)`);
    return {
      agentId: "",
      provider,
      label: rest.slice(provider.length + 1),
      cwd: session.currentPath ?? this.config.baseDir,
      approvalMode: "guarded",
      tmuxSession: session.name,
      ...(session.pid !== undefined ? { pid: session.pid } : {}),
      startedAt: Date.now(),
      status: "running",
      meta: {},
    };
  }

  private scheduleWatch(): void {
    if (!this.running) return;
    this.watchTimer = setTimeout(() => {
      this.watching = this.watchOnce()
        .catch((err) => this.logger.warn(`exit watcher: ${errorMessage(err)}`))
        .finally(() => this.scheduleWatch());
    }, this.config.watchIntervalMs);
  }

  /** One look at every session (one backend call); reaps the agents that ended. */
  async watchOnce(): Promise<void> {
    if (this.registry.size === 0) return;
    const sessions = new Map((await this.backend.list()).map((s) => [s.name, s]));
    for (const agent of [...this.registry.values()]) {
      if (this.locks.busy(agent.tmuxSession)) continue;
      const session = sessions.get(agent.tmuxSession);
      if (session && !session.dead) continue;
      await this.locks.run(agent.tmuxSession, async () => {
        if (this.registry.get(agent.tmuxSession) !== agent) return;
        await this.reapExited(agent, session);
      });
    }
  }

  private async reapExited(agent: ManagedAgent, session: BackendSession | undefined): Promise<void> {
    const exit: AgentExit = { lastLines: [] };
    if (session?.exitCode !== undefined) exit.code = session.exitCode;
    if (session) {
      exit.lastLines = await this.backend.capture(session.name, 20).catch(() => []);
      await this.backend.stop(session.name).catch(() => undefined);
    }
    this.registry.delete(agent.tmuxSession);
    const code = exit.code === undefined ? "unknown status" : `status ${exit.code}`;
    const tail = exit.lastLines.filter((l) => l.trim()).slice(-3).join(" | ");
    this.logger.warn(`agent ${agent.tmuxSession} exited (${code})${tail ? `: ${tail}` : ""}`);
    try {
      await this.hooks.onAgentExit.promise({ ...agent }, exit);
    } catch (err) {
      this.logger.warn(errorMessage(err));
    }
    this.scheduleReport();
  }

  private contextFor(plugin: Plugin): PluginContext {
    const api: OrchestratorApi = {
      agents: () => this.agents(),
      findAgents: (target) => this.findAgents(target),
      spawn: (request) => this.spawn(request),
      stop: (agent) => this.stopAgent(agent),
      restart: (agent) => this.restart(agent),
      report: () => this.report(),
    };
    return {
      config: this.config,
      hooks: scopeHooks(this.hooks, plugin.name),
      logger: this.logger.withTag(plugin.name),
      orchestrator: api,
      provideBackend: (backend) => {
        if (this.backendImpl) {
          throw new Error(
            `the agent backend is already provided by "${this.backendImpl.plugin}"; disable one of them (disablePlugins)`,
          );
        }
        this.backendImpl = { plugin: plugin.name, backend };
      },
      provideTransport: (transport) => {
        if (this.transportImpl) {
          throw new Error(
            `the relay transport is already provided by "${this.transportImpl.plugin}"; disable one of them (disablePlugins)`,
          );
        }
        this.transportImpl = { plugin: plugin.name, transport };
      },
      onClose: (fn) => {
        this.closers.push(fn);
      },
    };
  }
}

/**
 * The answer for a failed control: a `ControlError`'s own words (a veto also
 * names the plugin that vetoed); anything else with the plugin and hook it
 * came from.
 */
function describeFailure(err: unknown): { code: string; error: string } {
  const cause = rootCause(err);
  if (!(cause instanceof ControlError)) return { code: "failed", error: errorMessage(err) };
  if (cause.code !== "vetoed") return { code: cause.code, error: cause.message };
  let plugin: string | undefined;
  for (let e: unknown = err; e instanceof PluginError; e = e.cause) plugin = e.plugin;
  return { code: "vetoed", error: plugin ? `vetoed by plugin "${plugin}": ${cause.message}` : cause.message };
}
