import type { AgentState, AgentStateInfo, ManagedAgent } from "./types.js";

/**
 * The state an agent's status implies, when the status says more than its
 * screen can: a start-up, a stop, an exit, a start-up that got stuck. For a
 * `ready` agent: undefined (its screen and events decide; see `StateWatcher`).
 */
export function stateFromStatus(agent: ManagedAgent): AgentState | undefined {
  switch (agent.status) {
    case "starting":
    case "stopping":
    case "exited":
      return agent.status;
    case "stuck":
      // Stuck at start-up; a `ready` agent that stalls is stuck by its live state instead.
      return "stuck";
    default:
      return undefined;
  }
}

/**
 * An agent's live state as reported: the one recorded by the state watcher,
 * or, before it recorded one, what the status implies (a `ready` agent with
 * nothing recorded yet counts as idle since it became ready).
 */
export function stateOf(agent: ManagedAgent): AgentStateInfo {
  const implied = stateFromStatus(agent);
  const live = agent.live;
  if (live && (implied === undefined || live.state === implied)) return live;
  if (implied === undefined) return { state: "idle", since: agent.readyAt ?? agent.startedAt, source: "screen" };
  const since = implied === "exited" ? (agent.exitedAt ?? Date.now()) : implied === "starting" ? agent.startedAt : Date.now();
  return { state: implied, since, ...(agent.detail !== undefined && implied !== "starting" ? { detail: agent.detail } : {}) };
}
