import {
  AsyncParallelHook,
  AsyncSeriesBailHook,
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  SyncWaterfallHook,
} from "tapable";
import { isPluginError, PluginError } from "./errors.js";
import type {
  AgentEvent,
  AgentExit,
  AgentState,
  AgentStateDetail,
  AgentReport,
  DoctorCheck,
  ControlRequest,
  ControlResult,
  ConnectedInfo,
  HeartbeatInfo,
  ManagedAgent,
  SpawnSpec,
} from "./types.js";

/**
 * Named stages order taps on one hook. Lower runs first; taps in the same
 * stage run in registration order.
 */
export const STAGE = Object.freeze({
  /** Assemble the base of a spec (the env policy builds the agent env here). */
  POLICY: -100,
  /** Ordinary work: launchers fill the command line, handlers answer controls. */
  DEFAULT: 0,
  /** Checks over the finished result (deny rules, limits). */
  ENFORCE: 100,
  /** Observers that only report what happened. */
  REPORT: 200,
});

export type StopReason = "shutdown" | "restart";

/** Every hook of the core. Created once per orchestrator; the object is frozen. */
export function createHooks() {
  return Object.freeze({
    /**
     * Shapes a spawn before it starts. Async series waterfall: each tap gets
     * the spec the previous one returned and returns the next. The env policy
     * fills `env` at `STAGE.POLICY`, launchers fill `command` for their own
     * provider at `STAGE.DEFAULT`. To refuse the spawn, throw `SpawnVetoError`.
     */
    beforeSpawn: new AsyncSeriesWaterfallHook<[SpawnSpec]>(["spec"]),

    /**
     * After an agent's process was started and recorded. Async series; return
     * values are ignored. A throw is logged; the agent stays.
     */
    afterSpawn: new AsyncSeriesHook<[ManagedAgent]>(["agent"]),

    /**
     * Dispatches a control message. Async series bail: the first tap that
     * returns a result answers the control and the rest are skipped; return
     * `undefined` to pass. An action no tap answers gets an `unknown_action`
     * error answer. Throw `ControlError` to answer with a specific error.
     */
    onControl: new AsyncSeriesBailHook<[ControlRequest], ControlResult | undefined>(["request"]),

    /**
     * Before every registration and heartbeat (`info.kind` says which). Async
     * parallel: taps add fields to `info.meta`, which is sent with the
     * registration's `meta`, or as the heartbeat's JSON body `{ meta }` (the
     * built-in relay merges it into the registration's meta; a relay that
     * takes no heartbeat body ignores it).
     */
    onHeartbeat: new AsyncParallelHook<[HeartbeatInfo]>(["info"]),

    /**
     * After each registration with the relay (at start, and again whenever
     * the relay forgot this host), once the relay took it. Async parallel;
     * not awaited: the daemon polls meanwhile. A throw is logged. The relay
     * transport removes relay records of agents this host no longer manages here.
     */
    onConnected: new AsyncParallelHook<[ConnectedInfo]>(["info"]),

    /**
     * After an agent was stopped on purpose (shutdown, or the first half of a
     * restart) and removed from the registry. Async series; the relay
     * transport removes the agent's relay records here.
     */
    afterStop: new AsyncSeriesHook<[ManagedAgent, StopReason]>(["agent", "reason"]),

    /**
     * An agent's process ended on its own (or its session vanished); it is
     * now reported as `exited`. Async series.
     */
    onAgentExit: new AsyncSeriesHook<[ManagedAgent, AgentExit]>(["agent", "exit"]),

    /**
     * `doctor` runs: each plugin checks what it depends on (tmux's version,
     * the relay, a provider's caveats) and pushes one result per check.
     * Async parallel.
     */
    onDoctor: new AsyncParallelHook<[DoctorCheck[]]>(["checks"]),

    /**
     * Shapes one agent's report each time the agents are reported (to the
     * relay, in answers). Sync waterfall over the report, with the agent (a
     * copy) as second argument: a plugin adds the fields it owns
     * (restart-policy adds `restarts`) from what it knows, without I/O.
     * Secrets are redacted after the last tap.
     */
    onReport: new SyncWaterfallHook<[AgentReport, ManagedAgent]>(["report", "agent"]),

    /**
     * An agent's live state changed (`AgentState`). Async series, called in
     * order per agent, not awaited by the watcher (a slow tap never delays
     * detection); a throw is logged. `detail` is redacted.
     */
    onAgentState: new AsyncSeriesHook<[ManagedAgent, AgentState, AgentState, AgentStateDetail]>(["agent", "from", "to", "detail"]),

    /** One event the agent reported about itself (claude hooks, codex notify), already parsed and redacted. Async parallel. */
    onAgentEvent: new AsyncParallelHook<[ManagedAgent, AgentEvent]>(["agent", "event"]),
  });
}

export type OrchestratorHooks = ReturnType<typeof createHooks>;
export type HookName = keyof OrchestratorHooks;

/** How a plugin taps: a stage, or nothing for `STAGE.DEFAULT`. The tap is named after the plugin. */
export interface TapOptions {
  stage?: number;
}

/** The function a hook takes (`tapPromise`'s, or `tap`'s for a sync hook), read off the declaration above: no second table of signatures. */
type TapFn<H> = H extends { tapPromise(options: never, fn: infer F): void } ? F : H extends { tap(options: never, fn: infer F): void } ? F : never;
type TapArgs<K extends HookName> = Parameters<TapFn<OrchestratorHooks[K]>>;
type TapResult<K extends HookName> = Awaited<ReturnType<TapFn<OrchestratorHooks[K]>>>;

/**
 * A hook as a plugin sees it: it can only tap with promises, and what it
 * throws is wrapped in `PluginError` with the plugin's and the hook's name.
 * `tap` returns a function that removes the tap again.
 */
export interface PluginHook<K extends HookName> {
  tap(
    fn: OrchestratorHooks[K] extends SyncWaterfallHook<any> ? (...args: TapArgs<K>) => TapResult<K> : (...args: TapArgs<K>) => TapResult<K> | Promise<TapResult<K>>,
    options?: TapOptions,
  ): () => void;
}

export type PluginHooks = { readonly [K in HookName]: PluginHook<K> };

/** The hooks object handed to one plugin. */
export function scopeHooks(hooks: OrchestratorHooks, plugin: string): PluginHooks {
  const scoped = {} as Record<HookName, { tap(fn: (...args: any[]) => unknown, options?: TapOptions): () => void }>;
  for (const name of Object.keys(hooks) as HookName[]) {
    type Tapper = (options: { name: string; stage: number }, fn: (...args: unknown[]) => unknown) => void;
    const hook = hooks[name] as unknown as { tap: Tapper; tapPromise: Tapper };
    // tapable's sync hooks have `call`; its async ones do not (and it nulls their prototypes: no instanceof).
    const sync = typeof (hooks[name] as { call?: unknown }).call === "function";
    const wrap = (err: unknown) => (isPluginError(err) ? err : new PluginError(plugin, name, err));
    scoped[name] = {
      tap(fn: (...args: any[]) => unknown, options?: TapOptions) {
        // tapable cannot remove a tap: a removed one answers undefined, which every kind
        // of hook passes over (a waterfall keeps its value, a bail hook asks the next tap).
        let active = true;
        const tapOptions = { name: plugin, stage: options?.stage ?? STAGE.DEFAULT };
        if (sync) {
          hook.tap(tapOptions, (...args) => {
            if (!active) return undefined;
            try {
              return fn(...args);
            } catch (err) {
              throw wrap(err);
            }
          });
        } else {
          hook.tapPromise(tapOptions, async (...args) => {
            if (!active) return undefined;
            try {
              return await fn(...args);
            } catch (err) {
              throw wrap(err);
            }
          });
        }
        return () => {
          active = false;
        };
      },
    };
  }
  return Object.freeze(scoped) as PluginHooks;
}
