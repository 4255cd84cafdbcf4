/** An agent as its host reports it (PATCH /api/orchestrators/:id/agents); every field may be missing or hostile. */
export interface AgentView {
  agentId?: string;
  provider?: string;
  tmuxSession?: string;
  cwd?: string;
  label?: string | null;
  status?: string | null;
  startedAt?: number;
  restarts?: number | null;
  detail?: string | null;
  /** The live state (issue 15), when the host reports it. */
  state?: string;
  stateSince?: number;
  question?: string;
  options?: string[];
}

/** A host as `GET /api/orchestrators` describes it. */
export interface HostView {
  id: string;
  hostname?: string;
  providers?: string[];
  online: boolean;
  lastSeen: number;
  offlineSince?: number;
  agents: AgentView[];
}

export type Role = "admin" | "viewer" | "host";

export interface Snapshot {
  role: Role;
  hosts: HostView[];
}

/** A control's answer, as the relay stores it. */
export interface ControlResult {
  ok: boolean;
  action?: string;
  code?: string;
  error?: string;
}
