import type { AgentBackend, RelayTransport } from "./plugin.js";
import type { AgentProvider } from "./provider.js";

/**
 * What plugins provide to the core: the one backend, the one transport, the
 * providers by name, and what to run on close. A second provider of a role
 * is refused with both plugins named.
 */
export class Provisions {
  backend?: { plugin: string; backend: AgentBackend };
  transport?: { plugin: string; transport: RelayTransport };
  readonly providers = new Map<string, AgentProvider>();
  readonly closers: Array<() => void | Promise<void>> = [];

  provideBackend(plugin: string, backend: AgentBackend): void {
    if (this.backend) throw new Error(`the agent backend is already provided by "${this.backend.plugin}"; disable one of them (disablePlugins)`);
    this.backend = { plugin, backend };
  }

  provideTransport(plugin: string, transport: RelayTransport): void {
    if (this.transport) throw new Error(`the relay transport is already provided by "${this.transport.plugin}"; disable one of them (disablePlugins)`);
    this.transport = { plugin, transport };
  }

  provideProvider(provider: AgentProvider): void {
    if (this.providers.has(provider.name)) throw new Error(`provider "${provider.name}" is already provided by another plugin`);
    this.providers.set(provider.name, provider);
  }
}
