import { syncAgents, type AgentCard } from "./agents.js";
import { ago, byId, el, str } from "./dom.js";
import type { ControlResult, HostView, Role, Snapshot } from "./types.js";

// The dashboard: log in, then follow `GET /events` (snapshots of every host
// and agent, and control answers) and post controls to `POST /api/messages`.

const cards = new Map<string, AgentCard>();
/** Controls posted from this page and not answered yet: message id → what it was. */
const pending = new Map<number, string>();
let hosts: HostView[] = [];
let events: EventSource | undefined;

async function start(): Promise<void> {
  const res = await fetch("/api/session");
  if (res.ok) return enter(((await res.json()) as { role: Role }).role);
  showLogin();
}

function showLogin(): void {
  events?.close();
  byId("app").hidden = true;
  byId("logout").hidden = true;
  byId("who").textContent = "";
  byId("login").hidden = false;
  byId("token").focus();
}

function enter(role: Role): void {
  byId("login").hidden = true;
  byId("app").hidden = false;
  byId("logout").hidden = false;
  byId("who").textContent = role === "admin" ? "admin" : "viewer (read-only)";
  document.body.classList.toggle("viewer", role !== "admin");
  events = new EventSource("/events");
  events.addEventListener("snapshot", (event) => render(JSON.parse((event as MessageEvent<string>).data) as Snapshot));
  events.addEventListener("result", (event) => answered(JSON.parse((event as MessageEvent<string>).data) as { id: number; result: ControlResult }));
}

function render(snapshot: Snapshot): void {
  hosts = Array.isArray(snapshot.hosts) ? snapshot.hosts : [];
  const now = Date.now();
  byId("hosts").replaceChildren(...hosts.map((host) => hostCard(host, now)));
  const count = syncAgents(byId("agents"), cards, hosts, post, now);
  byId("no-agents").hidden = count > 0;
  spawnChoices();
}

function hostCard(host: HostView, now: number): HTMLElement {
  const card = el("li", "card host");
  const title = el("div", "title", str(host.hostname, host.id));
  const state = host.online ? "online" : "offline";
  title.append(el("span", `badge ${state}`, state));
  const agents = Array.isArray(host.agents) ? host.agents.length : 0;
  const providers = Array.isArray(host.providers) ? host.providers.map((p) => str(p)).join(", ") : "";
  card.append(
    title,
    el("div", "meta", `id ${host.id} · ${agents} agent${agents === 1 ? "" : "s"} · ${providers || "no providers"}`),
    el("div", "meta", `last seen ${ago(host.lastSeen, now)}`),
  );
  return card;
}

/** The spawn form's host list (online hosts) and the chosen host's providers, keeping what is selected. */
function spawnChoices(): void {
  const hostSelect = byId<HTMLSelectElement>("spawn-host");
  const chosen = hostSelect.value;
  const online = hosts.filter((h) => h.online);
  hostSelect.replaceChildren(...online.map((h) => option(h.id, str(h.hostname, h.id))));
  if (online.some((h) => h.id === chosen)) hostSelect.value = chosen;
  const providerSelect = byId<HTMLSelectElement>("spawn-provider");
  const provider = providerSelect.value;
  const providers = online.find((h) => h.id === hostSelect.value)?.providers ?? [];
  providerSelect.replaceChildren(...providers.map((p) => option(str(p), str(p))));
  if (providers.includes(provider)) providerSelect.value = provider;
}

function option(value: string, text: string): HTMLOptionElement {
  const node = el("option", undefined, text);
  node.value = value;
  return node;
}

/** Posts one control to a host's orchestrator; its answer comes back on the event stream. */
function post(host: string, control: Record<string, unknown>, what: string): void {
  const message = { to: `orchestrator-${host}`, kind: "control", payload: { orchestratorControl: control } };
  void fetch("/api/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(message) }).then(async (res) => {
    const body = (await res.json().catch(() => ({}))) as { id?: number; error?: string };
    if (!res.ok || typeof body.id !== "number") return notice(`${what}: refused (${str(body.error, String(res.status))})`, true);
    pending.set(body.id, what);
    notice(`${what}: sent`);
  });
}

function answered({ id, result }: { id: number; result: ControlResult }): void {
  const what = pending.get(id);
  if (!what) return;
  pending.delete(id);
  notice(result?.ok ? `${what}: done` : `${what}: failed (${str(result?.error, str(result?.code, "no reason given"))})`, !result?.ok);
}

function notice(text: string, error = false): void {
  const node = byId("notice");
  node.textContent = text;
  node.classList.toggle("error", error);
}

byId("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("token");
  void fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: input.value }) }).then(async (res) => {
    input.value = "";
    if (!res.ok) return void (byId("login-error").textContent = "Wrong token.");
    byId("login-error").textContent = "";
    enter(((await res.json()) as { role: Role }).role);
  });
});

byId("logout").addEventListener("click", () => void fetch("/logout", { method: "POST" }).then(showLogin));
byId("spawn-host").addEventListener("change", spawnChoices);
byId("spawn").addEventListener("submit", (event) => {
  event.preventDefault();
  const host = byId<HTMLSelectElement>("spawn-host").value;
  if (!host) return notice("no online host to spawn on", true);
  const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
  const control: Record<string, unknown> = { action: "spawn", provider: value("spawn-provider") || undefined };
  for (const [field, id] of [["label", "spawn-label"], ["cwd", "spawn-cwd"], ["prompt", "spawn-prompt"]] as const) if (value(id)) control[field] = value(id);
  post(host, control, `spawn ${str(control.label, "an agent")} on ${host}`);
});

// Relative times move on between snapshots without asking the relay for anything.
setInterval(() => hosts.length && render({ role: "admin", hosts }), 5_000);

void start();
