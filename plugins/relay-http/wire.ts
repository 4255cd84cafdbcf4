import type { AgentReport, ControlResult, Registration } from "../../core/index.js";

/**
 * The core's names mapped to protocol v2's (PROTOCOL.md), in one place: the
 * core speaks of an agent's `session` and the registration's
 * `sessionPrefix`; on the wire they are `tmuxSession` and `meta.tmuxPrefix`,
 * the names 0.9.0 gave them. Every other field goes as it is.
 */

/** A report as the relay takes it: `session` becomes `tmuxSession`, in its place. */
export function wireReport(report: AgentReport): WireAgentReport {
  return Object.fromEntries(Object.entries(report).map(([key, value]) => [key === "session" ? "tmuxSession" : key, value])) as WireAgentReport;
}

/** A control's answer as the relay takes it: its agents in the wire format. */
export function wireResult(result: ControlResult): WireControlResult {
  return result.ok ? { ...result, agents: result.agents.map(wireReport) } : { ...result };
}

/** The registration body: the session prefix goes in `meta.tmuxPrefix`. */
export function wireRegistration(registration: Registration): Record<string, unknown> {
  const { sessionPrefix, meta, ...rest } = registration;
  return { ...rest, meta: { ...meta, tmuxPrefix: sessionPrefix } };
}

/** An agent as the relay lists it (protocol v2): what `ps` and a control's answer read back. */
export type WireAgentReport = Omit<AgentReport, "session"> & { tmuxSession: string };

/** A control's answer as the relay gives it back. */
export type WireControlResult =
  | (Omit<Extract<ControlResult, { ok: true }>, "agents"> & { agents: WireAgentReport[] })
  | Extract<ControlResult, { ok: false }>;
