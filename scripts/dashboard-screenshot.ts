// Makes docs/dashboard.png and docs/dashboard-phone.png: the dashboard with
// two hosts and agents in several states, as reports a daemon sends (no tmux,
// no agents: the relay is told what to show). Run: `npm run build && npx jiti scripts/dashboard-screenshot.ts`.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { RelayServer } from "../plugins/relay-server/index.js";

const TOKEN = "screenshot-token-0123456789";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const data = mkdtempSync(join(tmpdir(), "aro-shot-"));
const relay = new RelayServer({ dataDir: join(data, "relay"), port: 0, token: TOKEN });
await relay.listen();

const now = Date.now();
const agent = (provider: string, label: string, cwd: string, extra: Record<string, unknown>) => ({
  agentId: "", provider, tmuxSession: `ar-${provider}-${label}`, cwd, label, approvalMode: "guarded", pid: 4242, startedAt: now - 47 * 60_000, status: "ready", ...extra,
});
const hosts = {
  laptop: [
    agent("claude", "fix-login-bug", "/home/me/src/webapp", { state: "blocked", stateSince: now - 42_000, question: "Do you want to run `npm test -- auth`?", options: ["Yes", "Yes, and don't ask again for npm test", "No, and tell Claude what to do differently"] }),
    agent("codex", "docs-pass", "/home/me/src/webapp/docs", { state: "working", stateSince: now - 3 * 60_000 }),
    agent("claude", "review-pr-118", "/home/me/src/api", { state: "idle", stateSince: now - 11 * 60_000 }),
  ],
  "build-server": [
    agent("claude", "flaky-ci", "/srv/ci/repo", { state: "stuck", stateSince: now - 6 * 60_000, detail: "no output for 5 min while working", restarts: 1 }),
    agent("codex", "bench-run", "/srv/bench", { state: "exited", stateSince: now - 2 * 60_000, status: "exited", exitCode: 0, detail: "exited with code 0" }),
  ],
};
const call = (method: string, path: string, body: unknown) =>
  fetch(`${relay.url}/api${path}`, { method, headers: { "Content-Type": "application/json", "X-Agent-Relay-Token": TOKEN }, body: JSON.stringify(body) });
for (const [id, agents] of Object.entries(hosts)) {
  await call("POST", "/orchestrators", { id, hostname: id, providers: ["claude", "codex"], version: "1.0.0", protocolVersion: 2 });
  await call("PATCH", `/orchestrators/${id}/agents`, { agents });
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  mkdirSync(join(root, "docs"), { recursive: true });
  for (const [file, viewport] of [["dashboard.png", { width: 1280, height: 900 }], ["dashboard-phone.png", { width: 390, height: 844 }]] as const) {
    const page = await browser.newPage({ viewport });
    await page.goto(`${relay.url}/`);
    await page.locator("#token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByText("bench-run").waitFor();
    await page.screenshot({ path: join(root, "docs", file), fullPage: file === "dashboard.png" });
    await page.close();
  }
} finally {
  await browser.close();
  await relay.close();
  rmSync(data, { recursive: true, force: true });
}
