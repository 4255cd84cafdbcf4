import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlError, Orchestrator, createLogger, parseControl, resolveConfig, resolveCwd, sessionNameFor } from "../../core/index.js";
import { builtinPlugins } from "../../plugins/defaults.js";

describe("session names", () => {
  it("are the names 0.9.0's sessions have in tmux", () => {
    expect(sessionNameFor("ar", "claude", "backend")).toBe("ar-claude-backend");
    expect(sessionNameFor("ar", "claude", "My Agent #2!")).toBe("ar-claude-my-agent-2-");
    // tmux stores "." as "_" in session names
    expect(sessionNameFor("ar", "codex", "v1.2")).toBe("ar-codex-v1_2");
    expect(sessionNameFor("ar", "claude", "a;$(rm -rf /)`x`")).toBe("ar-claude-a-rm--rf-x-");
  });
});

describe("cwd must resolve inside baseDir", () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "aro-cwd-")));
  const base = join(root, "projects");
  mkdirSync(join(base, "app", "src"), { recursive: true });
  mkdirSync(join(root, "projects-evil"), { recursive: true });
  mkdirSync(join(root, "outside"), { recursive: true });
  mkdirSync(join(base, "..hidden"), { recursive: true });
  symlinkSync(join(root, "outside"), join(base, "escape"));
  symlinkSync(join(base, "app"), join(base, "alias"));
  writeFileSync(join(base, "file.txt"), "x");

  it("accepts baseDir itself, subdirectories, relative paths and symlinks that stay inside", async () => {
    expect(await resolveCwd(base)).toEqual({ cwd: base, realCwd: base });
    expect(await resolveCwd(base, join(base, "app", "src"))).toMatchObject({ realCwd: join(base, "app", "src") });
    expect(await resolveCwd(base, "app")).toEqual({ cwd: join(base, "app"), realCwd: join(base, "app") });
    expect(await resolveCwd(base, join(base, "alias"))).toEqual({ cwd: join(base, "alias"), realCwd: join(base, "app") });
    expect(await resolveCwd(base, join(base, "..hidden"))).toMatchObject({ realCwd: join(base, "..hidden") });
  });

  it.each([
    ["a sibling that shares the prefix", () => join(root, "projects-evil"), /is outside baseDir/],
    ["a .. escape", () => join(base, "app", "..", "..", "outside"), /is outside baseDir/],
    ["a relative .. escape", () => "../outside", /is outside baseDir/],
    ["a symlink pointing out", () => join(base, "escape"), /is outside baseDir/],
    ["a path that does not exist", () => join(base, "nope"), /does not exist/],
    ["a file", () => join(base, "file.txt"), /is not a directory/],
    ["the filesystem root", () => "/", /is outside baseDir/],
  ])("refuses %s", async (_what, path, message) => {
    const err = await resolveCwd(base, path()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).code).toBe("cwd");
    expect((err as Error).message).toMatch(message);
  });

  it("says so when baseDir itself is missing", async () => {
    await expect(resolveCwd(join(root, "nowhere"))).rejects.toThrow(/baseDir .* does not exist on this host/);
  });
});

describe("control payloads", () => {
  it("accepts the protocol's fields", () => {
    const control = { action: "spawn", provider: "claude", cwd: "/x", label: "Backend", approvalMode: "guarded", prompt: "hi", requestedBy: "me", requestedAt: 1 };
    expect(parseControl(control)).toEqual(control);
  });

  it.each([
    [null, "control payload must be an object"],
    ["spawn", "control payload must be an object"],
    [[{ action: "spawn" }], "control payload must be an object"],
    [{}, "action"],
    [{ action: "spawn", label: "a\nb" }, "label: must not contain control characters"],
    [{ action: "spawn", label: "x".repeat(201) }, "label: expected at most 200 characters"],
    [{ action: "spawn", label: "evil\u202egnp.exe" }, "label: must not contain control characters"],
    [{ action: "spawn", provider: "../../bin/sh" }, "provider: expected a provider name"],
    [{ action: "spawn", cwd: 42 }, "cwd"],
  ])("refuses %j", async (payload, message) => {
    // The envelope is the core's; the fields belong to the plugin that declares the action.
    const dir = mkdtempSync(join(tmpdir(), "ar-control-"));
    const config = await resolveConfig({ id: "t", baseDir: dir, stateDir: dir, disablePlugins: ["relay-http"] }, { configFile: false, env: {} });
    const orchestrator = await Orchestrator.create({ config, plugins: builtinPlugins(), logger: createLogger({ level: "silent" }) });
    expect(() => orchestrator.parseControl(payload)).toThrow(message);
  });

  it("checks only the envelope in the core, and keeps the rest for the action's plugin", () => {
    expect(parseControl({ action: "launch", target: "moon", label: 42 })).toEqual({ action: "launch", target: "moon", label: 42 });
    expect(() => parseControl({ action: "rm -rf" })).toThrow("action");
  });
});

describe("logs --follow", () => {
  it("prints appended lines, lines past a scrolled history, or the redrawn part of a screen", async () => {
    const { newLines } = await import("../../cli/follow.js");
    expect(newLines(["a", "b"], ["a", "b"])).toEqual([]);
    expect(newLines(["a", "b"], ["a", "b", "c", "d"])).toEqual(["c", "d"]);
    expect(newLines(["a", "b", "c"], ["b", "c", "d"])).toEqual(["d"]);
    expect(newLines(["title", "❯ ", "footer"], ["title", "> hi", "● Done.", "❯ ", "footer"])).toEqual(["> hi", "● Done.", "❯ ", "footer"]);
  });
});
