import { definePlugin, errorMessage, RelayRequestError, type ManagedAgent, type RelayAgentSummary } from "../../core/index.js";
import { RelayHttpClient } from "./client.js";

export const RELAY_HTTP_PLUGIN = "relay-http";

/**
 * Talks to the relay over HTTP (protocol v2), and removes an agent's relay
 * records when it is shut down or restarted.
 */
export function relayHttpPlugin() {
  return definePlugin({
    name: RELAY_HTTP_PLUGIN,
    role: "transport",
    apply(ctx) {
      const { config, logger } = ctx;
      const client = new RelayHttpClient({
        relayUrl: config.relayUrl,
        ...(config.token ? { token: config.token } : {}),
        orchestratorId: config.id,
        timeoutMs: config.requestTimeoutMs,
      });
      // After each registration, relay records of agents this host started and
      // no longer manages (left by a crash mid-stop) are removed.
      ctx.hooks.onConnected.tap(() => removeOrphans());
      // What clients size their waits by, in the registration's meta: the heartbeat interval (our relay counts a host
      // offline after about three missed heartbeats) and each enabled provider's start timeout (`spawn` waits longer).
      ctx.hooks.onHeartbeat.tap((info) => {
        if (info.kind !== "register") return;
        const providers = ctx.orchestrator.providers();
        info.meta.heartbeatIntervalMs = config.heartbeatIntervalMs;
        info.meta.startTimeoutsMs = Object.fromEntries(config.providers.map((p) => [p, providers.get(p)?.startTimeoutMs ?? config.startTimeoutMs]));
      });
      // Closers run after the final report: the relay then shows this host offline at once.
      ctx.onClose(async () => {
        await client.goOffline().catch((err: unknown) => logger.warn(`could not tell the relay this host is going offline: ${errorMessage(err)}`));
        client.close();
      });
      ctx.provideTransport(client);

      async function removeOrphans(): Promise<void> {
        try {
          const managed = ctx.orchestrator.agents();
          for (const record of await client.listAgents()) {
            const tags = Array.isArray(record.tags) ? record.tags : [];
            if (!tags.includes("dashboard-spawned") || !tags.includes(config.hostname)) continue;
            if (managed.some((agent) => matchesManaged(record, agent))) continue;
            await client.deleteAgent(record.id);
            logger.info(`removed orphaned relay agent record ${record.id} (${record.label ?? "no label"})`);
          }
        } catch (err) {
          logger.warn(`could not check relay agent records: ${errorMessage(err)}`);
        }
      }

      ctx.hooks.onDoctor.tap(async (checks) => {
        try {
          await client.latestMessageId();
          const token = config.token ? "; it accepts the token" : "; no token is configured";
          checks.push({ name: "relay", status: "ok", detail: `${config.relayUrl} answers${token}` });
        } catch (err) {
          const status = err instanceof RelayRequestError ? err.status : undefined;
          const detail =
            status === 401 || status === 403
              ? `${config.relayUrl} refuses ${config.token ? "the token" : "requests without a token (set AGENT_RELAY_TOKEN)"}`
              : `${config.relayUrl} is not reachable: ${errorMessage(err)}`;
          checks.push({ name: "relay", status: "fail", detail });
        }
      });

      ctx.hooks.afterStop.tap(async (agent: ManagedAgent) => {
        let records: RelayAgentSummary[];
        try {
          records = await client.listAgents();
        } catch (err) {
          logger.warn(`could not list relay agents to clean up after ${agent.session}: ${errorMessage(err)}`);
          return;
        }
        for (const record of records.filter((r) => matchesManaged(r, agent))) {
          try {
            await client.deleteAgent(record.id);
            logger.info(`removed relay agent record ${record.id} (${agent.session})`);
          } catch (err) {
            logger.warn(`could not remove relay agent record ${record.id}: ${errorMessage(err)}`);
          }
        }
      });
    },
  });
}

/**
 * Whether a relay agent record belongs to a managed agent (PROTOCOL.md): the
 * same agentId, or the same label, provider and cwd on a record tagged
 * `dashboard-spawned`.
 */
export function matchesManaged(record: RelayAgentSummary, agent: ManagedAgent): boolean {
  if (agent.agentId && record.id === agent.agentId) return true;
  const tags = Array.isArray(record.tags) ? record.tags : [];
  return (
    Boolean(agent.label) &&
    record.label === agent.label &&
    (tags.includes(agent.provider) || record.meta?.provider === agent.provider) &&
    record.meta?.cwd === agent.cwd &&
    tags.includes("dashboard-spawned")
  );
}
