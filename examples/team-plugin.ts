/**
 * A complete third-party plugin, written only against the package's public
 * API, as a user would: a provider (aider), a control action of its own
 * (`pin`: pin a note to an agent) and a report field (`pinned`, shown with
 * every agent the relay lists). Load it from an orchestrator.config.ts:
 *
 *   import team from "./examples/team-plugin.ts";
 *   export default defineConfig({ providers: ["claude", "aider"], plugins: [...team()] });
 */
import { ControlError, defineControl, definePlugin, defineProvider, safeText, type Plugin } from "agent-relay-orchestrator";

export default function team(): Plugin[] {
  const pins = new Map<string, string>(); // session → note

  const aider = defineProvider({
    name: "aider",
    binary: { bin: "aider", versionArgs: ["--version"] },
    // The prompt as `--message=<prompt>`: never where it could be read as an option.
    command: (spec) => ({ command: ["aider", "--no-auto-commits", ...(spec.prompt ? [`--message=${spec.prompt}`] : [])] }),
    ready: { all: ["^> ?$"] },
    stop: { keys: [["C-d"]], graceMs: 2_000 },
  });

  const pinning = definePlugin({
    name: "pins",
    apply(ctx) {
      ctx.provideControl(
        defineControl({
          action: "pin",
          fields: { agent: safeText(256).min(1), note: safeText(200) },
          key: (control) => control.agent, // pins of one agent apply in order
          handle({ control }) {
            const [agent] = ctx.orchestrator.findAgents(control.agent);
            if (!agent) throw new ControlError("not_found", `no managed agent matches "${control.agent}"`);
            pins.set(agent.session, control.note);
            ctx.orchestrator.annotate(agent.session, `pinned: ${control.note}`);
            return { ok: true, action: "pin", message: `pinned to ${agent.session}`, agents: [] };
          },
        }),
      );
      // Every report carries the pin; the core knows nothing of it.
      ctx.hooks.onReport.tap((report, agent) => (pins.has(agent.session) ? { ...report, pinned: pins.get(agent.session) } : report));
      ctx.hooks.afterStop.tap((agent) => void pins.delete(agent.session));
    },
  });

  return [aider, pinning];
}
