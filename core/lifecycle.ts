import type { ResolvedConfig } from "./config/schema.js";
import { resolveCwd, sessionNameFor } from "./control.js";
import { ControlError, errorMessage, isControlError } from "./errors.js";
import type { OrchestratorHooks, StopReason } from "./hooks.js";
import type { AgentLocks } from "./lock.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { AgentProvider } from "./provider.js";
import type { AgentRegistry } from "./registry.js";
import type { Secrets } from "./secrets.js";
import { prepareEventFile } from "./agent-events.js";
import { shapeSpawn } from "./spawn-spec.js";
import type { StartupOutcome, StartupWatcher } from "./startup.js";
import type { Starts } from "./starts.js";
import { stopGracefully } from "./stop.js";
import type { ManagedAgent, SessionMeta, SpawnRequest } from "./types.js";

/** What `spawn` answers: the agent, whether it was already running, and how its start ended. */
export interface SpawnOutcome {
  agent: ManagedAgent;
  existing: boolean;
}

/** A start done under the agent's lock; its outcome is waited for after. */
interface Started {
  agent: ManagedAgent;
  existing: boolean;
  outcome?: Promise<StartupOutcome>;
}

/** What starting and stopping agents needs of the daemon. */
export interface LifecycleHost {
  config: ResolvedConfig;
  hooks: OrchestratorHooks;
  registry: AgentRegistry;
  locks: AgentLocks;
  secrets: Secrets;
  logger: Logger;
  startup: StartupWatcher;
  starts: Starts;
  backend(): AgentBackend;
  providers(): ReadonlyMap<string, AgentProvider>;
  changed(): void;
}

/** Waits before each new try of a restart's start that failed for a passing reason (as the inbox retries a control). */
const RESTART_START_RETRIES = [500, 1_000, 2_000];

/**
 * Starts, stops and restarts agents: each change of one agent under its
 * lock (one at a time per agent), the wait for a start to end outside it.
 */
export class AgentLifecycle {
  constructor(private readonly host: LifecycleHost) {}

  /**
   * Starts an agent and waits for its start-up to end. Resolves with the
   * agent once it is ready (or with the running one of the same session);
   * throws `ControlError` ("stuck" or "exited") with the reason otherwise.
   */
  async spawn(request: SpawnRequest): Promise<SpawnOutcome> {
    const { config } = this.host;
    const provider = request.provider ?? config.providers[0];
    if (provider === undefined) throw new ControlError("provider", "no provider is enabled on this host");
    if (!config.providers.includes(provider)) {
      throw new ControlError("provider", `provider "${provider}" is not enabled on this host (enabled: ${config.providers.join(", ") || "none"})`);
    }
    const label = request.label ?? `${provider}-${Date.now()}`;
    const sessionName = sessionNameFor(config.tmuxPrefix, provider, label);
    const started = await this.host.locks.run(sessionName, () => this.spawnLocked({ ...request, provider, label }, sessionName));
    return this.finishStart(started);
  }

  /** Stops an agent on purpose (gracefully first, as its provider says) and forgets it. */
  async stop(agent: ManagedAgent, reason: StopReason = "shutdown"): Promise<void> {
    await this.host.locks.run(agent.session, () => this.stopLocked(agent.session, reason));
  }

  /** Stops an agent (if it runs) and starts it again with the same options, prompt and plugin data; `meta` is merged in. */
  async restart(agent: ManagedAgent, options: { meta?: Record<string, unknown> } = {}): Promise<ManagedAgent> {
    const started = await this.host.locks.run(agent.session, async () => {
      const current = this.host.registry.get(agent.session) ?? agent;
      await this.stopLocked(agent.session, "restart");
      const { provider, cwd, label, approvalMode, prompt, meta } = current;
      const request: SpawnRequest = { provider, cwd, label, approvalMode, meta: { ...meta, ...options.meta } };
      if (prompt !== undefined) request.prompt = prompt;
      // The old agent is gone now: a new start that fails for a passing reason
      // is tried again here, because a retry of the control would find no agent
      // to restart (and the agent would be lost).
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.spawnLocked({ ...request, provider, label }, agent.session);
        } catch (err) {
          if (!isControlError(err) || !err.retryable || attempt > RESTART_START_RETRIES.length) throw err;
          const delay = RESTART_START_RETRIES[attempt - 1]!;
          this.host.logger.warn(`restart of ${agent.session}: the new start failed (${errorMessage(err)}); trying again in ${delay} ms`);
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    });
    return (await this.finishStart(started)).agent;
  }

  private async spawnLocked(request: SpawnRequest & { provider: string; label: string }, sessionName: string): Promise<Started> {
    const { config, registry, logger } = this.host;
    let current = registry.get(sessionName);
    if (current && current.status !== "exited" && !request.replace) {
      const outcome = this.host.starts.outcomeOf(sessionName);
      return { agent: current, existing: true, ...(outcome ? { outcome } : {}) };
    }
    const { cwd, realCwd } = await resolveCwd(config.baseDir, request.cwd);
    if (current && request.replace && current.status !== "exited") {
      await this.stopLocked(sessionName, "restart");
      current = undefined;
    }
    const spec = await shapeSpawn(this.host.hooks, config, { ...request, cwd, realCwd }, sessionName);
    for (const name of spec.secretEnv) this.host.secrets.add(spec.env[name]);
    if (current) await this.endSession(sessionName); // the exited one's session and any process it left
    const agent: ManagedAgent = {
      agentId: "",
      provider: spec.provider,
      label: spec.label,
      cwd: spec.cwd,
      approvalMode: spec.approvalMode,
      ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
      session: sessionName,
      startedAt: Date.now(),
      status: "starting",
      meta: spec.meta,
    };
    registry.set(agent);
    try {
      // A fresh event file for this start (the launcher pointed the agent's event command at it).
      if (this.host.providers().get(spec.provider)?.events) prepareEventFile(config.stateDir, sessionName);
      const record: SessionMeta = {
        v: 1,
        orchestratorId: config.id,
        provider: agent.provider,
        label: agent.label,
        cwd: agent.cwd,
        approvalMode: agent.approvalMode,
        ...(agent.prompt !== undefined ? { prompt: agent.prompt } : {}),
        startedAt: agent.startedAt,
        ...(Object.keys(spec.meta).length > 0 ? { meta: spec.meta } : {}),
      };
      const { pid } = await this.host.backend().start(spec, record);
      if (pid !== undefined) agent.pid = pid;
    } catch (err) {
      registry.delete(sessionName);
      // A backend says why with a ControlError (its code, and whether it may pass); anything else may pass.
      const known = isControlError(err);
      throw new ControlError(known ? err.code : "failed", `could not start ${sessionName}: ${errorMessage(err)}`, {
        cause: err,
        retryable: known ? err.retryable : true,
      });
    }
    logger.info(`started ${agent.provider} agent ${sessionName} in ${agent.cwd}`);
    this.host.changed();
    if (spec.prompt !== undefined && this.host.providers().get(spec.provider)?.prompt?.delivery === "type") {
      this.host.starts.recordPrompt(sessionName, agent.startedAt, false);
    }
    const outcome = this.host.starts.watch(agent, spec.prompt);
    try {
      await this.host.hooks.afterSpawn.promise({ ...agent });
    } catch (err) {
      logger.warn(errorMessage(err));
    }
    return { agent, existing: false, outcome };
  }

  /** Waits, outside the session's lock, for a start to end; turns a failed start into a `ControlError`. */
  private async finishStart(started: Started): Promise<SpawnOutcome> {
    const { agent, existing } = started;
    if (started.outcome) {
      const outcome = await started.outcome;
      if (outcome.status !== "ready") {
        throw new ControlError(outcome.status, `${agent.session} ${outcome.detail}`);
      }
    }
    return { agent: { ...agent }, existing };
  }

  private async stopLocked(sessionName: string, reason: StopReason): Promise<void> {
    const { registry, logger } = this.host;
    const agent = registry.get(sessionName);
    if (!agent) return;
    const previous = agent.status;
    const wasAlive = previous !== "exited";
    agent.status = "stopping";
    this.host.changed();
    this.host.startup.forget(sessionName, { status: "exited", detail: "was stopped during start-up", lastLines: [] });
    try {
      if (wasAlive) await stopGracefully(this.host.backend(), sessionName, this.host.providers().get(agent.provider)?.stop, logger);
      await this.endSession(sessionName); // an exited agent's dead session (and any process it left) goes too
    } catch (err) {
      agent.status = previous;
      if (isControlError(err)) throw err;
      throw new ControlError("failed", `could not stop ${sessionName}: ${errorMessage(err)}`, { cause: err, retryable: true });
    }
    registry.delete(sessionName);
    logger.info(`stopped ${sessionName} (${reason})`);
    try {
      await this.host.hooks.afterStop.promise({ ...agent }, reason);
    } catch (err) {
      logger.warn(errorMessage(err));
    }
    this.host.changed();
  }

  /**
   * Ends a session and every process of its agent; throws, naming them, when
   * any is still alive after that (so a restart never runs two copies).
   */
  private async endSession(sessionName: string): Promise<void> {
    const leftovers = (await this.host.backend().stop(sessionName))?.leftovers ?? [];
    if (leftovers.length === 0) return;
    const list = leftovers.map((p) => `${p.pid} (${p.name})`).join(", ");
    this.host.logger.error(`${sessionName}: ${leftovers.length} process(es) still alive after SIGKILL: ${list}`);
    throw new ControlError("failed", `could not stop all of ${sessionName}: still alive after SIGKILL: ${list}`);
  }
}
