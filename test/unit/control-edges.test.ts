import { mkdirSync, mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { safeText } from "../../core/control.js";
import { ControlRegistry } from "../../core/controls.js";
import { ControlError, resolveCwd } from "../../core/index.js";

// The edges of control checks: the folder right above baseDir, a missing
// baseDir's error code, the text fields' check, and a null control.

describe("working directories", () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "ar-cwd-edges-")));
  const base = join(root, "projects");
  mkdirSync(base, { recursive: true });

  it("refuses the folder right above baseDir", async () => {
    const err = await resolveCwd(base, "..").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ code: "cwd", message: expect.stringMatching(/is outside baseDir/) });
  });

  it("a missing baseDir is a cwd error", async () => {
    const err = await resolveCwd(join(root, "nowhere")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "cwd" });
  });
});

describe("text fields", () => {
  it("take text up to their length, without control or invisible characters", () => {
    const text = safeText(5);
    expect(text.safeParse("abcde").success).toBe(true);
    expect(text.safeParse("abcdef").success).toBe(false);
    expect(text.safeParse("a\u0007b").success).toBe(false);
  });
});

describe("messages", () => {
  it("a message whose control is null carries no control", () => {
    const controls = new ControlRegistry();
    expect(controls.parseMessage({ id: 1, kind: "chat", payload: { orchestratorControl: null } })).toBeUndefined();
    // (An older sender's `meta` is read when the payload has none: null there too.)
    expect(controls.parseMessage({ id: 2, kind: "chat", meta: { orchestratorControl: null } })).toBeUndefined();
  });
});
