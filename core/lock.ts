import { AsyncLocalStorage } from "node:async_hooks";

/** The keys a running task holds (with those of the tasks that called it), while it runs. */
interface Turn {
  readonly keys: ReadonlySet<string>;
  active: boolean;
}

/**
 * One lock per agent, by its key (the session name). The orchestrator owns
 * it; every change of an agent (spawn, stop, restart, an exit recorded) and
 * every control about it (the inbox orders them with it) takes the agent's
 * turn. Tasks for one key run one at a time, in the order they asked;
 * different keys run in parallel.
 *
 * A task that holds a key may take it again (a control's handler spawning
 * or stopping its own agent): that runs at once, as part of the turn, instead
 * of waiting for the turn it is part of. Work a task leaves behind (a timer,
 * a promise not awaited) waits like any other once the turn has ended.
 */
export class AgentLocks {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly turns = new AsyncLocalStorage<Turn>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const current = this.turns.getStore();
    const held = current?.active ? current.keys : undefined;
    if (held?.has(key)) return task();
    const turn: Turn = { keys: new Set([...(held ?? []), key]), active: true };
    const inTurn = () => this.turns.run(turn, task);
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(inTurn, inTurn);
    const tail = result.then(
      () => void (turn.active = false),
      () => void (turn.active = false),
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Whether a task for `key` is running or queued. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}
