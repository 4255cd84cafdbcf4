import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type TestHome } from "./env.js";

/**
 * The real agent CLIs for `npm run test:real`, where .ci/install-real-clis
 * puts them (a git-ignored folder of this checkout), and the logins a user
 * who already ran them would have. Everything stays on this machine: the
 * CLIs talk to a FakeApi on loopback, and codex's other hosts go to a closed
 * port.
 */
export const REAL_CLIS_DIR = join(ROOT, ".real-clis");
const BIN = join(REAL_CLIS_DIR, "node_modules", ".bin");

/** The path of a real CLI, or undefined when it is not installed. */
export function realCli(name: "claude" | "codex"): string | undefined {
  const path = join(BIN, name);
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/** Why the real tests of `name` are skipped, or undefined when they can run. Said in the suite's name. */
export function skipReason(name: "claude" | "codex"): string | undefined {
  return realCli(name) ? undefined : `skipped: the real ${name} is not installed (run .ci/install-real-clis)`;
}

/** Made-up keys: the fake API takes any. Long enough for claude's "last 20 characters" approval. */
export const FAKE_ANTHROPIC_KEY = "sk-ant-api03-fake-key-for-tests-0123456789abcdefghij";
export const FAKE_OPENAI_KEY = "sk-proj-fake-key-for-tests-0123456789abcdefghij";

/** A closed loopback port as every proxy, loopback exempt: codex's tips and plugin hosts get nowhere. */
export const OFFLINE_ENV = {
  HTTPS_PROXY: "http://127.0.0.1:9",
  HTTP_PROXY: "http://127.0.0.1:9",
  ALL_PROXY: "http://127.0.0.1:9",
  NO_PROXY: "127.0.0.1,localhost",
};

/**
 * `~/.claude.json` as a user who ran claude once with this API key has it:
 * onboarding done and the key approved. The folders in `trusted` were
 * trusted in that run; any other gets the trust dialog, the daemon's to
 * answer.
 */
export function seedClaudeLogin(home: TestHome, options: { key?: string; trusted?: string[] } = {}): void {
  const key = options.key ?? FAKE_ANTHROPIC_KEY;
  const projects = Object.fromEntries((options.trusted ?? []).map((dir) => [dir, { hasTrustDialogAccepted: true }]));
  writeFileSync(
    join(home.home, ".claude.json"),
    JSON.stringify({ hasCompletedOnboarding: true, customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] }, projects }),
  );
}

/**
 * A CODEX_HOME logged in with `codex login --with-api-key`, as its docs tell
 * a user. Not under /tmp (codex refuses to set up its helpers there): in the
 * git-ignored .real-clis/homes/. `remove()` deletes it.
 */
export function loginCodex(home: TestHome, key = FAKE_OPENAI_KEY): { codexHome: string; remove: () => void } {
  mkdirSync(join(REAL_CLIS_DIR, "homes"), { recursive: true });
  const codexHome = mkdtempSync(join(REAL_CLIS_DIR, "homes", "codex-"));
  execFileSync(realCli("codex")!, ["login", "--with-api-key"], {
    input: key,
    env: { HOME: home.home, PATH: process.env.PATH, CODEX_HOME: codexHome, ...OFFLINE_ENV },
    stdio: ["pipe", "ignore", "pipe"],
  });
  return { codexHome, remove: () => rmSync(codexHome, { recursive: true, force: true }) };
}
