import type { AgentEvent, AgentStateInfo, OrchestratorApi, PluginContext } from "../../core/index.js";

/** What a waiter is told: the agent's state changed, it reported an event, or the daemon is closing. */
type Wake = { kind: "state" } | { kind: "event"; event: AgentEvent } | { kind: "closing" };

/** How often a waiter looks at the state without being woken (a safety net; wakes come from the hooks). */
const LOOK_EVERY_MS = 1_000;

/**
 * Lets a control wait for what an agent does, without polling tmux: each
 * waiter is woken by `onAgentState` and `onAgentEvent` for its agent (and
 * looks at `orchestrator.state` at least once a second anyway), and by the
 * daemon closing.
 */
export class AgentWatch {
  private readonly waiters = new Map<string, Set<(wake: Wake) => void>>();
  closing = false;

  constructor(private readonly api: OrchestratorApi) {}

  /** Taps the hooks this watch listens to. */
  attach(ctx: Pick<PluginContext, "hooks" | "onClose">): void {
    ctx.hooks.onAgentState.tap((agent) => this.wake(agent.session, { kind: "state" }));
    ctx.hooks.onAgentEvent.tap((agent, event) => this.wake(agent.session, { kind: "event", event }));
    ctx.onClose(() => {
      this.closing = true;
      for (const session of [...this.waiters.keys()]) this.wake(session, { kind: "closing" });
    });
  }

  /**
   * Listens to an agent from now on: `next(ms)` resolves with the next wake
   * (or undefined after `ms`); `events` holds every event reported since
   * `listen` was called. Call `close()` when done.
   */
  listen(session: string) {
    const queue: Wake[] = [];
    const events: AgentEvent[] = [];
    let notify: (() => void) | undefined;
    const waiter = (wake: Wake) => {
      if (wake.kind === "event") events.push(wake.event);
      queue.push(wake);
      notify?.();
    };
    const set = this.waiters.get(session) ?? new Set();
    set.add(waiter);
    this.waiters.set(session, set);
    const next = async (ms: number): Promise<Wake | undefined> => {
      if (queue.length === 0 && !this.closing) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, Math.min(ms, LOOK_EVERY_MS)));
          notify = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        notify = undefined;
      }
      return this.closing ? { kind: "closing" } : queue.shift();
    };
    const close = () => {
      set.delete(waiter);
      if (set.size === 0 && this.waiters.get(session) === set) this.waiters.delete(session);
    };
    return { next, events, close };
  }

  /**
   * Waits until `done(state)` holds for the agent's state (undefined: it is no
   * longer managed), or `deadline` (epoch ms) passes, or the daemon closes.
   */
  async until(session: string, deadline: number, done: (state: AgentStateInfo | undefined) => boolean): Promise<"done" | "timeout" | "closing"> {
    const listener = this.listen(session);
    try {
      for (;;) {
        if (this.closing) return "closing";
        if (done(this.api.state(session))) return "done";
        const left = deadline - Date.now();
        if (left <= 0) return "timeout";
        await listener.next(left);
      }
    } finally {
      listener.close();
    }
  }

  private wake(session: string, wake: Wake): void {
    for (const waiter of this.waiters.get(session) ?? []) waiter(wake);
  }
}
