import { stateOf } from "./live-state.js";
import type { AgentReport, BackendSession, ManagedAgent } from "./types.js";

/** The agents this daemon manages, by session name, and how they are reported. */
export class AgentRegistry {
  private readonly agents = new Map<string, ManagedAgent>();

  get size(): number {
    return this.agents.size;
  }

  get(session: string): ManagedAgent | undefined {
    return this.agents.get(session);
  }

  set(agent: ManagedAgent): void {
    this.agents.set(agent.session, agent);
  }

  delete(session: string): void {
    this.agents.delete(session);
  }

  /** Live records (not copies): for the core only. */
  values(): ManagedAgent[] {
    return [...this.agents.values()];
  }

  /** Copies, for plugins. */
  snapshot(): ManagedAgent[] {
    return this.values().map((agent) => ({ ...agent, meta: { ...agent.meta } }));
  }

  find(target: string): ManagedAgent[] {
    return this.snapshot().filter(
      (a) => (a.agentId !== "" && a.agentId === target) || a.session === target || a.label === target,
    );
  }

  /** Forgets exited agents that have been reported long enough, and returns them. */
  prune(now: number, retentionMs: number): ManagedAgent[] {
    const pruned = this.values().filter((a) => a.status === "exited" && a.exitedAt !== undefined && now - a.exitedAt > retentionMs);
    for (const agent of pruned) this.agents.delete(agent.session);
    return pruned;
  }

  /** Each agent with its base report (what the core knows); plugins add theirs through `onReport`. */
  reports(): Array<{ agent: ManagedAgent; report: AgentReport }> {
    return this.values().map((agent) => ({ agent, report: toReport(agent) }));
  }
}

export function toReport(a: ManagedAgent): AgentReport {
  const live = stateOf(a);
  return {
    agentId: a.agentId,
    provider: a.provider,
    session: a.session,
    cwd: a.cwd,
    label: a.label,
    approvalMode: a.approvalMode,
    ...(a.pid !== undefined ? { pid: a.pid } : {}),
    startedAt: a.startedAt,
    status: a.status,
    ...(a.exitCode !== undefined ? { exitCode: a.exitCode } : {}),
    ...(a.readyAt !== undefined ? { readyAt: a.readyAt, timeToReadyMs: a.readyAt - a.startedAt } : {}),
    ...(a.detail !== undefined ? { detail: a.detail } : {}),
    ...(a.lastLines !== undefined ? { lastLines: a.lastLines } : {}),
    state: live.state,
    stateSince: live.since,
    ...(live.question !== undefined ? { question: live.question } : {}),
    ...(live.options !== undefined ? { options: live.options } : {}),
  };
}

/**
 * The agent a session holds, from its metadata; sessions started by 0.9.0
 * carry none and are recognised by their name. Undefined for sessions that
 * are not this orchestrator's.
 */
export function agentFromSession(
  session: BackendSession,
  config: { id: string; tmuxPrefix: string; providers: readonly string[]; baseDir: string },
): { agent: ManagedAgent; byName: boolean } | undefined {
  const meta = session.meta;
  const pid = session.pid !== undefined ? { pid: session.pid } : {};
  if (meta) {
    if (meta.orchestratorId !== config.id) return undefined;
    const agent: ManagedAgent = {
      agentId: "",
      provider: meta.provider,
      label: meta.label,
      cwd: meta.cwd,
      approvalMode: meta.approvalMode,
      ...(meta.prompt !== undefined ? { prompt: meta.prompt } : {}),
      session: session.name,
      ...pid,
      startedAt: meta.startedAt,
      status: "ready",
      ...(typeof meta.meta?.readyAt === "number" ? { readyAt: meta.meta.readyAt } : {}),
      meta: meta.meta ?? {},
    };
    return { agent, byName: false };
  }
  const prefix = `${config.tmuxPrefix}-`;
  if (!session.name.startsWith(prefix)) return undefined;
  const rest = session.name.slice(prefix.length);
  const provider = config.providers.find((p) => rest.startsWith(`${p}-`));
  if (!provider) return undefined;
  const agent: ManagedAgent = {
    agentId: "",
    provider,
    label: rest.slice(provider.length + 1),
    cwd: session.currentPath ?? config.baseDir,
    approvalMode: "guarded",
    session: session.name,
    ...pid,
    startedAt: Date.now(),
    status: "ready",
    meta: {},
  };
  return { agent, byName: true };
}
