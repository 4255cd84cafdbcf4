import { ago, button, el, str } from "./dom.js";
import type { AgentView, HostView } from "./types.js";

/** What an agent card can ask for: one control to its host. */
export type Act = (host: string, control: Record<string, unknown>, what: string) => void;

/** The key of an agent across snapshots: its host and tmux session. */
export function agentKey(host: string, agent: AgentView): string {
  return `${host}\u0000${str(agent.tmuxSession)}`;
}

/**
 * One agent's card, kept across snapshots (so a half-typed message survives
 * an update); `update` rewrites its text from the latest report.
 */
export class AgentCard {
  readonly node = el("li", "card agent");
  private readonly title = el("div", "title");
  private readonly badge = el("span", "badge");
  private readonly meta = el("div", "meta");
  private readonly since = el("div", "meta since");
  private readonly question = el("div", "question");
  private readonly options = el("div", "options admin-only");
  private agent: AgentView = {};

  constructor(
    readonly host: string,
    private readonly act: Act,
  ) {
    const send = el("form", "send admin-only");
    const input = el("input");
    input.placeholder = "Message";
    input.setAttribute("aria-label", "Message");
    send.append(input, el("button", undefined, "Send"));
    send.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      this.control({ action: "send", text: input.value }, "send");
      input.value = "";
    });
    const actions = el("div", "actions admin-only");
    actions.append(
      button("Restart", () => this.control({ action: "restart" }, "restart")),
      button("Stop", () => this.control({ action: "shutdown" }, "stop")),
    );
    this.node.append(this.title, this.meta, this.since, this.question, this.options, send, actions);
  }

  /** The agent's session names it in every control: a control without one would act on every agent of the host. */
  private control(fields: Record<string, unknown>, what: string): void {
    const session = str(this.agent.tmuxSession);
    if (!session) return;
    this.act(this.host, { ...fields, agentId: session }, `${what} ${str(this.agent.label, session)}`);
  }

  update(agent: AgentView, hostOnline: boolean, now: number): void {
    this.agent = agent;
    const state = hostOnline ? str(agent.state, str(agent.status, "unknown")) : "host offline";
    this.title.textContent = str(agent.label, str(agent.tmuxSession, "(unnamed)"));
    this.badge.textContent = state;
    this.badge.className = `badge ${state.replace(/[^a-z]/g, "")}`;
    this.title.append(this.badge);
    this.meta.textContent = `${str(agent.provider, "?")} on ${this.host} · ${str(agent.cwd)}${typeof agent.restarts === "number" && agent.restarts > 0 ? ` · ${agent.restarts} restart${agent.restarts === 1 ? "" : "s"}` : ""}`;
    this.since.textContent = `since ${ago(agent.stateSince ?? agent.startedAt, now)}`;
    const blocked = agent.state === "blocked";
    this.question.textContent = blocked ? str(agent.question, "(a question)") : str(agent.detail);
    const options = blocked && Array.isArray(agent.options) ? agent.options.filter((o): o is string => typeof o === "string") : [];
    this.options.replaceChildren(...options.map((option) => button(option, () => this.control({ action: "respond", option }, `answer "${option}" to`))));
  }
}

/** Brings the agents list in line with a snapshot: cards added, updated in place, removed. */
export function syncAgents(list: HTMLElement, cards: Map<string, AgentCard>, hosts: HostView[], act: Act, now: number): number {
  const seen = new Set<string>();
  for (const host of hosts) {
    for (const agent of Array.isArray(host.agents) ? host.agents : []) {
      if (typeof agent !== "object" || agent === null) continue;
      const key = agentKey(host.id, agent);
      seen.add(key);
      let card = cards.get(key);
      if (!card) {
        card = new AgentCard(host.id, act);
        cards.set(key, card);
        list.append(card.node);
      }
      card.update(agent, host.online, now);
    }
  }
  for (const [key, card] of cards) {
    if (seen.has(key)) continue;
    card.node.remove();
    cards.delete(key);
  }
  return seen.size;
}
