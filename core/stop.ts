import { errorMessage } from "./errors.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { StopRules } from "./provider.js";

/**
 * Asks an agent to exit with its provider's keys (no further key once it is
 * gone), and waits up to `graceMs` for it. The caller kills the session after.
 */
export async function stopGracefully(backend: AgentBackend, session: string, rules: StopRules | undefined, logger: Logger): Promise<void> {
  if (!rules || rules.keys.length === 0) return;
  const exited = async (withinMs: number) => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const screen = (await backend.screens([session])).get(session);
      if (!screen || screen.dead) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    for (const [i, keys] of rules.keys.entries()) {
      if (i > 0 && (await exited(rules.intervalMs ?? 300))) return; // no second Ctrl-C for an agent that is gone
      await backend.sendKeys(session, keys);
    }
    if (await exited(rules.graceMs ?? 3_000)) return;
    logger.info(`${session} did not exit within ${rules.graceMs ?? 3_000} ms; killing it`);
  } catch (err) {
    logger.debug(`graceful stop of ${session}: ${errorMessage(err)}`);
  }
}
