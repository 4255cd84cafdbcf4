import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ControlRegistry, defineControl } from "../../core/controls.js";
import { ControlError, PluginError, SpawnVetoError } from "../../core/errors.js";
import { createHooks } from "../../core/hooks.js";
import { Secrets } from "../../core/secrets.js";

// The declared control actions as a plugin author meets them: declaring,
// extending another plugin's control, what a message's control parses to,
// the key it is ordered by, and what a handler's failure is answered with.

const launch = defineControl({
  action: "launch",
  fields: { target: z.string(), count: z.number().int().optional() },
  key: (c) => ({ agent: `ar-${c.target}`, aliases: [c.target] }),
  handle: ({ control }) => ({ ok: true, action: "launch", message: JSON.stringify(control), agents: [] }),
});

describe("declaring controls", () => {
  it("refuses an action name that is not a safe identifier, and a second declaration of an action", () => {
    const controls = new ControlRegistry();
    expect(() => controls.declare("p", { ...launch, action: "rm -rf" })).toThrow('"rm -rf" is not a valid control action name');
    expect(() => controls.declare("p", { ...launch, action: "x".repeat(65) })).toThrow("is not a valid control action name");
    controls.declare("rockets", launch);
    expect(() => controls.declare("other", launch)).toThrow('control "launch" is declared already by plugin "rockets"');
  });

  it("refuses a field another plugin added already, and names the fields plugins added", () => {
    const controls = new ControlRegistry();
    controls.extend("gpu", "launch", { gpus: z.number() });
    controls.extend("team", "launch", { team: z.string(), priority: z.number().optional() });
    expect(() => controls.extend("other", "launch", { team: z.string() })).toThrow('field "team" of control "launch" is added already by plugin "team"');
    expect(controls.extensionFields("launch")).toEqual(["gpus", "team", "priority"]);
    expect(controls.extensionFields("spawn")).toEqual([]);
  });
});

describe("parsing a message's control", () => {
  it("validates the declared fields and those plugins added, drops fields nobody declared, and keeps the envelope", () => {
    const controls = new ControlRegistry();
    controls.declare("rockets", launch);
    controls.parse({ action: "launch", target: "moon" }); // parsed once before the extension: the schema is made again
    controls.extend("gpu", "launch", { gpus: z.number() });
    const parsed = controls.parse({ action: "launch", target: "moon", gpus: 2, requestedBy: "me", requestedAt: 5, extra: "dropped" });
    expect(parsed.control).toEqual({ action: "launch", target: "moon", gpus: 2, requestedBy: "me", requestedAt: 5 });
    expect(parsed.declaration).toBe(launch);
    expect(() => controls.parse({ action: "launch", target: "moon", gpus: "two" })).toThrow(/^invalid control: gpus: /);
    expect(() => controls.parse({ action: "launch" })).toThrow(/^invalid control: target: /);
  });

  it("keeps every field of an action nobody declared (an onControl tap may answer it)", () => {
    const controls = new ControlRegistry();
    expect(controls.parse({ action: "ping", anything: [1] })).toEqual({ control: { action: "ping", anything: [1] } });
  });

  it.each([
    ["a number", 42, "control payload must be an object"],
    ["null", null, "control payload must be an object"],
    ["an array", [{ action: "x" }], "control payload must be an object"],
    ["no action", { target: "moon" }, "invalid control: action: "],
    ["an envelope field of the wrong type", { action: "ping", requestedBy: 7 }, "invalid control: requestedBy: "],
  ])("refuses %s as invalid", (_what, raw, message) => {
    const err = (() => {
      try {
        new ControlRegistry().parse(raw);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ code: "invalid" });
    expect((err as Error).message.startsWith(message)).toBe(true);
  });

  it("reads the control from the payload, or from meta (older senders); a message without one has none", () => {
    const controls = new ControlRegistry();
    expect(controls.parseMessage({ id: 1, payload: { orchestratorControl: { action: "a" } }, meta: { orchestratorControl: { action: "b" } } })?.control.action).toBe("a");
    expect(controls.parseMessage({ id: 2, meta: { orchestratorControl: { action: "b" } } })?.control.action).toBe("b");
    expect(controls.parseMessage({ id: 3, payload: { orchestratorControl: null } })).toBeUndefined();
    expect(controls.parseMessage({ id: 4, body: "hello" })).toBeUndefined();
  });

  it("orders a declared control by its declaration's key, and one nobody declared after every other", () => {
    const controls = new ControlRegistry();
    controls.declare("rockets", launch);
    expect(controls.keyOf(controls.parse({ action: "launch", target: "moon" }), { createdAt: 0 })).toEqual({ agent: "ar-moon", aliases: ["moon"] });
    expect(controls.keyOf(controls.parse({ action: "ping" }), { createdAt: 0 })).toBe("*");
  });
});

describe("answering a control", () => {
  const secrets = new Secrets(["hunter2-secret"]);

  it("answers with the handler's result, else the first onControl tap's, else unknown_action", async () => {
    const controls = new ControlRegistry();
    const hooks = createHooks();
    controls.declare("rockets", launch);
    hooks.onControl.tap("x", ({ control }) => (control.action === "ping" ? { ok: true, action: "ping", message: "pong", agents: [] } : undefined));
    expect(await controls.dispatch(hooks, secrets, controls.parse({ action: "launch", target: "moon" }))).toMatchObject({ ok: true, message: '{"action":"launch","target":"moon"}' });
    expect(await controls.dispatch(hooks, secrets, controls.parse({ action: "ping" }))).toMatchObject({ ok: true, message: "pong" });
    expect(await controls.dispatch(hooks, secrets, controls.parse({ action: "pong" }))).toEqual({ ok: false, action: "pong", code: "unknown_action", error: 'unknown action "pong"' });
  });

  it("hands the handler the message's context", async () => {
    const controls = new ControlRegistry();
    let seen: unknown;
    controls.declare("p", defineControl({ action: "see", fields: {}, key: () => "*", handle: (request) => ((seen = request), { ok: true, action: "see", message: "", agents: [] }) }));
    await controls.dispatch(createHooks(), secrets, controls.parse({ action: "see" }), { messageId: 9, replay: true });
    expect(seen).toEqual({ messageId: 9, replay: true, control: { action: "see" } });
  });

  it.each([
    ["a ControlError", new ControlError("not_found", "no agent hunter2-secret"), { code: "not_found", error: "no agent ***" }],
    ["a retryable ControlError", new ControlError("failed", "tmux busy", { retryable: true }), { code: "failed", error: "tmux busy", retryable: true }],
    ["a veto from a plugin", new PluginError("policy", "beforeSpawn", new SpawnVetoError("not on Sundays")), { code: "vetoed", error: 'vetoed by plugin "policy": not on Sundays' }],
    ["any other error", new Error("disk on fire"), { code: "failed", error: "disk on fire" }],
  ])("answers %s thrown by a handler as an error, secrets redacted", async (_what, thrown, answer) => {
    const controls = new ControlRegistry();
    controls.declare("p", defineControl({ action: "boom", fields: {}, key: () => "*", handle: () => Promise.reject(thrown) }));
    expect(await controls.dispatch(createHooks(), secrets, controls.parse({ action: "boom" }))).toEqual({ ok: false, action: "boom", ...answer });
  });

  it("redacts secrets in a successful answer too", async () => {
    const controls = new ControlRegistry();
    controls.declare("p", defineControl({ action: "echo", fields: {}, key: () => "*", handle: () => ({ ok: true, action: "echo", message: "token hunter2-secret", agents: [] }) }));
    expect(await controls.dispatch(createHooks(), secrets, controls.parse({ action: "echo" }))).toMatchObject({ message: "token ***" });
  });
});
