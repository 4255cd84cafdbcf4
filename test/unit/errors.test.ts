import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { reportFatal } from "../../cli/fatal.js";
import { ConfigError, ControlError, failureAnswer, isConfigError, isControlError, isPluginError, rootCause } from "../../core/index.js";
import { ROOT } from "../support/env.js";

// A second copy of the package (the built one, which the test setup builds), as a config file or plugin may load.
const other = (await import(join(ROOT, "dist", "core", "index.js"))) as typeof import("../../core/index.js");

describe("errors from another copy of the package", () => {
  it("are told apart by kind, not by class", () => {
    const config = new other.ConfigError("x.ts: tmux: unknown key");
    const control = new other.ControlError("not_found", "no agent named w1");
    const veto = new other.PluginError("guard", "beforeSpawn", new other.SpawnVetoError("not in office hours"));
    expect(config instanceof ConfigError || control instanceof ControlError).toBe(false); // two classes of each
    expect([isConfigError(config), isControlError(control), isPluginError(veto)]).toEqual([true, true, true]);
    expect([isConfigError(control), isControlError(config), isPluginError(control)]).toEqual([false, false, false]);
    expect(isControlError(rootCause(veto))).toBe(true);
    expect(failureAnswer(control)).toEqual({ code: "not_found", error: "no agent named w1" });
    expect(failureAnswer(veto)).toEqual({ code: "vetoed", error: 'vetoed by plugin "guard": not in office hours' });
  });

  it("a config error from a config file's copy still exits 2 with its message", () => {
    const write = process.stderr.write;
    let printed = "";
    process.stderr.write = ((text: string) => ((printed += text), true)) as typeof process.stderr.write;
    try {
      expect(reportFatal(new other.ConfigError("x.ts: envPolcy: unknown key"))).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(printed).toBe("config error:\nx.ts: envPolcy: unknown key\n");
  });
});
