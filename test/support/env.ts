import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { removeAgentCgroups } from "./procs.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = join(ROOT, "test", "fixtures");
export const FAKE_BIN = join(FIXTURES, "bin");
export const CLI = join(ROOT, "dist", "cli", "main.js");

/**
 * A throw-away host layout: HOME (with Claude's first-run state settled
 * unless told otherwise), a baseDir with a project, and a state dir.
 */
export class TestHome {
  readonly root = realpathSync(mkdtempSync(join(tmpdir(), "aro-test-")));
  readonly home = join(this.root, "home");
  readonly baseDir = join(this.root, "projects");
  readonly project = join(this.baseDir, "app");
  readonly stateDir = join(this.root, "state");
  readonly transcript = join(this.root, "transcript.jsonl");

  constructor(options: { settleClaude?: boolean; loginCodex?: boolean } = {}) {
    mkdirSync(this.home, { recursive: true });
    mkdirSync(this.project, { recursive: true });
    if (options.settleClaude !== false) {
      writeFileSync(
        join(this.home, ".claude.json"),
        JSON.stringify({ hasCompletedOnboarding: true, projects: { [this.baseDir]: { hasTrustDialogAccepted: true } } }),
      );
      mkdirSync(join(this.home, ".claude"), { recursive: true });
      writeFileSync(join(this.home, ".claude", "settings.json"), JSON.stringify({ skipDangerousModePermissionPrompt: true }));
    }
    if (options.loginCodex !== false) {
      mkdirSync(join(this.home, ".codex"), { recursive: true });
      writeFileSync(join(this.home, ".codex", "auth.json"), JSON.stringify({ OPENAI_API_KEY: "sk-test" }));
    }
  }

  /** The daemon's environment: isolated HOME, the fake CLIs first in PATH. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      HOME: this.home,
      PATH: `${FAKE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      LANG: "C.UTF-8",
      FAKE_CLAUDE_TRANSCRIPT: this.transcript,
      FAKE_CODEX_TRANSCRIPT: this.transcript,
      ...extra,
    };
  }

  remove(): void {
    removeAgentCgroups(this.stateDir); // the tmux backend's, for agents no test stopped
    rmSync(this.root, { recursive: true, force: true });
  }
}
