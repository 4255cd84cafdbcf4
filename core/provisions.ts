import type { AgentBackend, RelayTransport } from "./plugin.js";
import type { AgentProvider } from "./provider.js";

/** The methods every agent backend must have (`AgentBackend`); `onExit` and `attachCommand` are optional. */
export const BACKEND_METHODS = ["start", "list", "stop", "capture", "screens", "sendKeys"] as const;

/** The methods every relay transport must have (`RelayTransport`); `answer` and `interrupt` are optional. */
export const TRANSPORT_METHODS = ["register", "heartbeat", "latestMessageId", "fetchMessages", "ack", "report"] as const;

/**
 * What plugins provide to the core: the one backend, the one transport, the
 * providers by name, and what to run on close. A second provider of a role
 * is refused with both plugins named; so is a backend or transport that
 * lacks a method the core calls (a wrapper that lost them, say).
 */
export class Provisions {
  backend?: { plugin: string; backend: AgentBackend };
  transport?: { plugin: string; transport: RelayTransport };
  readonly providers = new Map<string, AgentProvider>();
  readonly closers: Array<() => void | Promise<void>> = [];

  provideBackend(plugin: string, backend: AgentBackend): void {
    if (this.backend) throw new Error(`the agent backend is already provided by "${this.backend.plugin}"; disable one of them (disablePlugins)`);
    requireMethods("agent backend", backend, BACKEND_METHODS);
    this.backend = { plugin, backend };
  }

  provideTransport(plugin: string, transport: RelayTransport): void {
    if (this.transport) throw new Error(`the relay transport is already provided by "${this.transport.plugin}"; disable one of them (disablePlugins)`);
    requireMethods("relay transport", transport, TRANSPORT_METHODS);
    this.transport = { plugin, transport };
  }

  provideProvider(provider: AgentProvider): void {
    if (this.providers.has(provider.name)) throw new Error(`provider "${provider.name}" is already provided by another plugin`);
    this.providers.set(provider.name, provider);
  }
}

/** Throws, naming what is missing and what is required, unless `value` has every method in `methods`. */
function requireMethods(what: string, value: unknown, methods: readonly string[]): void {
  const object = (typeof value === "object" || typeof value === "function") && value !== null ? (value as Record<string, unknown>) : {};
  const missing = methods.filter((name) => typeof object[name] !== "function");
  if (missing.length === 0) return;
  throw new Error(`the ${what} it provides has no ${missing.join(", ")} (it must have the methods ${methods.join(", ")})`);
}
