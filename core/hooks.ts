import {
  AsyncParallelHook,
  AsyncSeriesBailHook,
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
} from "tapable";
import { PluginError } from "./errors.js";
import type {
  AgentExit,
  DoctorCheck,
  ControlRequest,
  ControlResult,
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
     * Before every registration and heartbeat. Async parallel: taps add fields
     * to `info.meta`, which is sent with the registration.
     */
    onHeartbeat: new AsyncParallelHook<[HeartbeatInfo]>(["info"]),

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
  });
}

export type OrchestratorHooks = ReturnType<typeof createHooks>;
export type HookName = keyof OrchestratorHooks;

/** How a plugin taps: a stage, or nothing for `STAGE.DEFAULT`. The tap is named after the plugin. */
export interface TapOptions {
  stage?: number;
}

/**
 * What each hook's taps receive and return. Spelled out because tapable's
 * typings cannot tell hook kinds apart; `test/unit/hooks.test.ts` pins the kinds.
 */
export interface HookSignatures {
  beforeSpawn: { args: [SpawnSpec]; result: SpawnSpec };
  afterSpawn: { args: [ManagedAgent]; result: void };
  onControl: { args: [ControlRequest]; result: ControlResult | undefined };
  onHeartbeat: { args: [HeartbeatInfo]; result: void };
  afterStop: { args: [ManagedAgent, StopReason]; result: void };
  onAgentExit: { args: [ManagedAgent, AgentExit]; result: void };
  onDoctor: { args: [DoctorCheck[]]; result: void };
}

/**
 * A hook as a plugin sees it: it can only tap with promises, and what it
 * throws is wrapped in `PluginError` with the plugin's and the hook's name.
 */
export interface PluginHook<K extends HookName> {
  tap(
    fn: (...args: HookSignatures[K]["args"]) => HookSignatures[K]["result"] | Promise<HookSignatures[K]["result"]>,
    options?: TapOptions,
  ): void;
}

export type PluginHooks = { readonly [K in HookName]: PluginHook<K> };

/** The hooks object handed to one plugin. */
export function scopeHooks(hooks: OrchestratorHooks, plugin: string): PluginHooks {
  const scoped = {} as Record<HookName, { tap(fn: (...args: any[]) => unknown, options?: TapOptions): void }>;
  for (const name of Object.keys(hooks) as HookName[]) {
    const hook = hooks[name] as unknown as {
      tapPromise(options: { name: string; stage: number }, fn: (...args: unknown[]) => Promise<unknown>): void;
    };
    scoped[name] = {
      tap(fn: (...args: any[]) => unknown, options?: TapOptions) {
        hook.tapPromise({ name: plugin, stage: options?.stage ?? STAGE.DEFAULT }, async (...args) => {
          try {
            return await fn(...args);
          } catch (err) {
            if (err instanceof PluginError) throw err;
            throw new PluginError(plugin, name, err);
          }
        });
      },
    };
  }
  return Object.freeze(scoped) as PluginHooks;
}
