import { afterEach, describe, expect, it } from "vitest";
import { Orchestrator, PluginError, STAGE, SpawnVetoError, createLogger, definePlugin, resolveConfig, type SpawnSpec } from "../../core/index.js";
import { createHooks } from "../../core/hooks.js";
import { controlsPlugin } from "../../plugins/controls/index.js";
import { TestHome } from "../support/env.js";
import { recordingBackend } from "../support/providers.js";

const homes: TestHome[] = [];
afterEach(() => homes.splice(0).forEach((h) => h.remove()));

async function core(plugins: ReturnType<typeof definePlugin>[]) {
  const home = new TestHome();
  homes.push(home);
  const config = await resolveConfig({ id: "t", baseDir: home.baseDir, stateDir: home.stateDir, providers: ["claude"] }, { configFile: false, env: {} });
  return Orchestrator.create({ config, plugins, logger: createLogger({ level: "silent" }) });
}

describe("hooks", () => {
  it("pins each hook's kind by behaviour, since tapable's typings cannot tell them apart", async () => {
    const hooks = createHooks();
    expect(Object.isFrozen(hooks)).toBe(true);
    expect(Object.keys(hooks).sort()).toEqual(["afterSpawn", "afterStop", "beforeSpawn", "onAgentEvent", "onAgentExit", "onAgentState", "onConnected", "onControl", "onDoctor", "onHeartbeat", "onReport"]);

    // sync waterfall: onReport is called (not awaited), each tap gets what the previous returned
    hooks.onReport.tap("a", (report) => ({ ...report, label: "from-a" }));
    hooks.onReport.tap("b", (report) => ({ ...report, cwd: report.label! }));
    expect(hooks.onReport.call({ label: "x" } as never, {} as never)).toMatchObject({ label: "from-a", cwd: "from-a" });

    // waterfall: the second tap gets what the first returned
    hooks.beforeSpawn.tapPromise("a", async (spec) => ({ ...spec, label: "from-a" }));
    hooks.beforeSpawn.tapPromise("b", async (spec) => ({ ...spec, command: [spec.label] }));
    const spec = await hooks.beforeSpawn.promise({ label: "x", command: [] } as unknown as SpawnSpec);
    expect(spec.command).toEqual(["from-a"]);

    // bail: the first answer stops the series
    let secondRan = false;
    hooks.onControl.tapPromise("a", async () => ({ ok: true, action: "x", message: "a", agents: [] }));
    hooks.onControl.tapPromise("b", async () => {
      secondRan = true;
      return undefined;
    });
    expect(await hooks.onControl.promise({ control: { action: "x" } })).toMatchObject({ message: "a" });
    expect(secondRan).toBe(false);

    // parallel: the first tap can only finish because the second runs meanwhile
    for (const name of ["onHeartbeat", "onDoctor", "onAgentEvent"] as const) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const hook = hooks[name] as unknown as { tapPromise(n: string, fn: () => Promise<void>): void; promise(a: unknown): Promise<void> };
      hook.tapPromise("a", () => released);
      hook.tapPromise("b", async () => release());
      await hook.promise(name === "onDoctor" ? [] : { kind: "heartbeat", meta: {} });
    }

    // series: each tap starts after the previous one finished
    for (const name of ["afterSpawn", "afterStop", "onAgentExit", "onAgentState"] as const) {
      const events: string[] = [];
      const hook = hooks[name] as unknown as { tapPromise(n: string, fn: () => Promise<void>): void; promise(...a: unknown[]): Promise<void> };
      hook.tapPromise("a", async () => {
        await new Promise((r) => setTimeout(r, 20));
        events.push("a done");
      });
      hook.tapPromise("b", async () => void events.push("b start"));
      await hook.promise({}, {});
      expect(events, name).toEqual(["a done", "b start"]);
    }
  });

  it("runs beforeSpawn taps by stage, not by registration order, and spawns what they shaped", async () => {
    const started: SpawnSpec[] = [];
    const order: string[] = [];
    const orchestrator = await core([
      recordingBackend(started),
      definePlugin({
        name: "late-launcher",
        apply(ctx) {
          ctx.hooks.beforeSpawn.tap((spec) => {
            order.push("launcher");
            return { ...spec, command: ["agent", spec.env.FROM_POLICY ?? "missing"] };
          });
        },
      }),
      definePlugin({
        name: "policy",
        apply(ctx) {
          ctx.hooks.beforeSpawn.tap((spec) => {
            order.push("policy");
            return { ...spec, env: { FROM_POLICY: "yes" } };
          }, { stage: STAGE.POLICY });
        },
      }),
    ]);
    await orchestrator.spawn({ label: "one" });
    expect(order).toEqual(["policy", "launcher"]);
    expect(started[0]!.command).toEqual(["agent", "yes"]);
  });

  it("answers a veto in beforeSpawn as a refused control naming the plugin, and starts nothing", async () => {
    const started: SpawnSpec[] = [];
    const orchestrator = await core([
      recordingBackend(started),
      controlsPlugin(),
      definePlugin({
        name: "no-fridays",
        apply(ctx) {
          ctx.hooks.beforeSpawn.tap(() => {
            throw new SpawnVetoError("no spawns today");
          });
        },
      }),
    ]);
    expect(await orchestrator.dispatch({ action: "spawn" })).toEqual({
      ok: false,
      action: "spawn",
      code: "vetoed",
      error: 'vetoed by plugin "no-fridays": no spawns today',
    });
    const viaCore = await orchestrator.spawn({ label: "x" }).catch((err: unknown) => err);
    expect(viaCore).toBeInstanceOf(PluginError);
    expect((viaCore as PluginError).plugin).toBe("no-fridays");
    expect((viaCore as PluginError).hook).toBe("beforeSpawn");
    expect((viaCore as Error).message).toContain("no spawns today");
    expect(started).toHaveLength(0);
  });

  it("lets the first onControl tap that answers win, and answers unknown actions with an error", async () => {
    const seen: string[] = [];
    const orchestrator = await core([
      recordingBackend([]),
      definePlugin({
        name: "first",
        apply(ctx) {
          ctx.hooks.onControl.tap(({ control }) => {
            seen.push("first");
            return control.action === "ping" ? { ok: true, action: "ping", message: "pong", agents: [] } : undefined;
          });
        },
      }),
      definePlugin({
        name: "second",
        apply(ctx) {
          ctx.hooks.onControl.tap(({ control }) => {
            seen.push("second");
            return control.action === "ping" ? { ok: true, action: "ping", message: "second pong", agents: [] } : undefined;
          });
        },
      }),
    ]);
    expect(await orchestrator.dispatch({ action: "ping" })).toMatchObject({ ok: true, message: "pong" });
    expect(seen).toEqual(["first"]);
    expect(await orchestrator.dispatch({ action: "launch-missiles" })).toEqual({
      ok: false,
      action: "launch-missiles",
      code: "unknown_action",
      error: 'unknown action "launch-missiles"',
    });
  });

  it("wraps what a plugin throws with the plugin's and the hook's name, and keeps the cause", async () => {
    const boom = new Error("disk on fire");
    const orchestrator = await core([
      recordingBackend([]),
      definePlugin({
        name: "fragile",
        apply(ctx) {
          ctx.hooks.onControl.tap(() => {
            throw boom;
          });
        },
      }),
    ]);
    const result = await orchestrator.dispatch({ action: "anything" });
    expect(result).toEqual({ ok: false, action: "anything", code: "failed", error: 'plugin "fragile" failed in onControl: disk on fire' });
    await expect(orchestrator.hooks.onControl.promise({ control: { action: "x" } })).rejects.toMatchObject({ plugin: "fragile", hook: "onControl", cause: boom });
  });

  it("names the plugin whose apply fails, and refuses a second backend", async () => {
    await expect(core([definePlugin({ name: "broken", apply() { throw new Error("bad options"); } })])).rejects.toThrow(
      'plugin "broken" failed in apply: bad options',
    );
    await expect(core([recordingBackend([]), { ...recordingBackend([]), name: "other-backend" }])).rejects.toThrow(
      'the agent backend is already provided by "recording-backend"',
    );
  });

  it("lets a plugin add report fields through onReport, and remove a tap with the function tap returns", async () => {
    let untap!: () => void;
    let untapControl!: () => void;
    const orchestrator = await core([
      recordingBackend([]),
      definePlugin({
        name: "gpu",
        apply(ctx) {
          ctx.hooks.beforeSpawn.tap((spec) => ({ ...spec, command: ["agent"] }));
          untap = ctx.hooks.onReport.tap((report, agent) => ({ ...report, gpu: agent.label.length }) as typeof report);
          untapControl = ctx.hooks.onControl.tap(() => ({ ok: true, action: "ping", message: "pong", agents: [] }));
        },
      }),
    ]);
    await orchestrator.spawn({ label: "four" });
    expect(orchestrator.report()).toEqual([expect.objectContaining({ label: "four", gpu: 4 })]);
    expect(await orchestrator.dispatch({ action: "ping" })).toMatchObject({ ok: true });
    untap();
    untapControl();
    expect(orchestrator.report()[0]).not.toHaveProperty("gpu");
    expect(await orchestrator.dispatch({ action: "ping" })).toMatchObject({ ok: false, code: "unknown_action" });
  });

  it("collects onHeartbeat contributions from every tap", async () => {
    const orchestrator = await core([
      recordingBackend([]),
      definePlugin({ name: "a", apply: (ctx) => void ctx.hooks.onHeartbeat.tap((info) => void (info.meta.gpu = 2)) }),
      definePlugin({ name: "b", apply: (ctx) => void ctx.hooks.onHeartbeat.tap(async (info) => void (info.meta.load = 0.5)) }),
    ]);
    const info = { kind: "heartbeat" as const, meta: {} as Record<string, unknown> };
    await orchestrator.hooks.onHeartbeat.promise(info);
    expect(info.meta).toEqual({ gpu: 2, load: 0.5 });
  });
});
