import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RelayServer } from "../../plugins/relay-server/index.js";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";

// The dashboard in Debian's chromium, driven by playwright-core (nothing
// downloaded): a real relay, real daemons with the fake CLIs, real tmux.

const TOKEN = "admin-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const CHROMIUM = "/usr/bin/chromium";
const SLOW = 30_000; // a daemon starts and an agent spawns slowly on a loaded machine

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
afterAll(async () => {
  await browser?.close();
});

let home: TestHome;
let tmux: TestTmux;
let relay: RelayServer;
let dataRoot: string;
const daemons: TestDaemon[] = [];
beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  dataRoot = mkdtempSync(join(tmpdir(), "aro-dash-"));
  relay = new RelayServer({ dataDir: join(dataRoot, "data"), port: 0, token: TOKEN, viewerToken: VIEWER });
  await relay.listen();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.terminate("SIGKILL");
  await relay.close();
  tmux.kill();
  home.remove();
  rmSync(dataRoot, { recursive: true, force: true });
});

function daemon(id: string): TestDaemon {
  const d = new TestDaemon(home, tmux, { relayUrl: relay.url, token: TOKEN, id }).start();
  daemons.push(d);
  return d;
}

async function logIn(page: Page, token: string): Promise<void> {
  await page.goto(`${relay.url}/`);
  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#app").waitFor({ state: "visible" });
  await page.locator("#login").waitFor({ state: "hidden" });
}

describe("dashboard", () => {
  it("logs in, shows a host and an agent as they appear, spawns from the form, shows a hostile label as text, and stop removes the agent", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await logIn(page, TOKEN);
    await page.getByText("No agents.").waitFor();

    // the daemon starts after the page is open: its host shows up without a reload
    daemon("box");
    const host = page.locator(".host", { hasText: "id box" });
    await host.getByText("online").waitFor({ timeout: SLOW });
    await host.getByText(/claude, codex/).waitFor();

    const label = `<img src=x onerror="window.__xss=1">`;
    await page.locator("#spawn-provider").selectOption("claude");
    await page.locator("#spawn-label").fill(label);
    await page.getByRole("button", { name: "Spawn" }).click();
    const card = page.locator(".agent", { hasText: label });
    await card.waitFor({ timeout: SLOW });
    await card.getByText("claude on box").waitFor();
    await page.locator("#notice", { hasText: /spawn .* on box: done/ }).waitFor({ timeout: SLOW });
    expect(await page.locator("#agents img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(tmux.sessions()).toHaveLength(1);

    await card.getByRole("button", { name: "Stop" }).click();
    await card.waitFor({ state: "detached", timeout: SLOW });
    await page.getByText("No agents.").waitFor();
    expect(tmux.sessions()).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a viewer everything and no actions, and refuses the viewer's controls", async () => {
    daemon("box");
    const page = await browser.newPage();
    await logIn(page, VIEWER);
    await page.locator(".host", { hasText: "id box" }).getByText("online").waitFor({ timeout: SLOW });
    expect(await page.locator("#who").textContent()).toMatch(/viewer/);
    expect(await page.getByRole("button", { name: "Spawn" }).isVisible()).toBe(false);
    const posted = await page.evaluate(async () => {
      const res = await fetch("/api/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to: "orchestrator-box", kind: "control", payload: { orchestratorControl: { action: "spawn" } } }) });
      return res.status;
    });
    expect(posted).toBe(403);
    expect(relay.store.latestMessageId()).toBe(0);
    await page.close();
  });
});

describe("dashboard: live state", () => {
  const report = { agentId: "", provider: "claude", tmuxSession: "ar-claude-fix", cwd: "/p/app", label: "fix-build", approvalMode: "guarded", pid: 42, startedAt: Date.now() - 60_000 };
  const admin = { "X-Agent-Relay-Token": TOKEN };
  const controls = () => relay.store.messagesFor("orchestrator-box", 0, false).map((m) => m.payload.orchestratorControl);

  it("shows a blocked agent's question with a button per option; a button posts respond, the message box posts send", async () => {
    // a host's report as a daemon with live state (issue 15) sends it
    await raw("POST", "/api/orchestrators", admin, JSON.stringify({ id: "box", hostname: "box", providers: ["claude"] }));
    const blocked = { ...report, state: "blocked", stateSince: Date.now() - 5_000, question: "Allow Bash(rm -rf build)?", options: ["Yes", "Yes, and don't ask again", "No"] };
    expect((await raw("PATCH", "/api/orchestrators/box/agents", admin, JSON.stringify({ agents: [blocked] }))).status).toBe(200);
    const page = await browser.newPage();
    await logIn(page, TOKEN);
    const card = page.locator(".agent", { hasText: "fix-build" });
    await card.getByText("Allow Bash(rm -rf build)?").waitFor();
    await card.getByText("blocked").waitFor();
    await card.getByRole("button", { name: "No", exact: true }).click();
    await page.locator("#notice", { hasText: /answer "No" to fix-build: sent/ }).waitFor();
    await card.getByRole("textbox", { name: "Message" }).fill("run the tests <b>again</b>");
    await card.getByRole("button", { name: "Send" }).click();
    await page.locator("#notice", { hasText: /send fix-build: sent/ }).waitFor();
    expect(controls()).toEqual([
      { action: "respond", option: "No", agentId: "ar-claude-fix" },
      { action: "send", text: "run the tests <b>again</b>", agentId: "ar-claude-fix" },
    ]);

    // the next report: working, the question gone, without a reload
    await raw("PATCH", "/api/orchestrators/box/agents", admin, JSON.stringify({ agents: [{ ...report, state: "working", stateSince: Date.now() }] }));
    await card.getByText("working").waitFor();
    await card.getByText("Allow Bash(rm -rf build)?").waitFor({ state: "detached" });
    expect(await card.getByRole("button", { name: "No", exact: true }).count()).toBe(0);
    await page.close();
  });
});

/** One raw HTTP request, headers exactly as given. */
function raw(method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(`${relay.url}${path}`, { method, headers: { ...(body !== undefined ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("dashboard: what it refuses", () => {
  const spawn = JSON.stringify({ to: "orchestrator-box", kind: "control", payload: { orchestratorControl: { action: "spawn", label: "csrf" } } });

  it("gives a session cookie (HttpOnly, SameSite=Strict, never the token) for a right token only", async () => {
    expect((await raw("POST", "/login", {}, JSON.stringify({ token: "wrong-token-0123456789abcdef" }))).status).toBe(401);
    const login = await raw("POST", "/login", {}, JSON.stringify({ token: TOKEN }));
    expect(login.status).toBe(200);
    const cookie = String(login.headers["set-cookie"]);
    expect(cookie).toMatch(/^relay_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/);
    expect(cookie).not.toContain(TOKEN);
  });

  it("refuses a request without the cookie, a cookie's change without the relay's own Origin, and a foreign Host", async () => {
    const cookie = String((await raw("POST", "/login", {}, JSON.stringify({ token: TOKEN }))).headers["set-cookie"]).split(";")[0]!;
    const own = new URL(relay.url).origin;
    expect((await raw("GET", "/events", {})).status).toBe(401);
    expect((await raw("GET", "/api/orchestrators", {})).status).toBe(401);
    expect((await raw("POST", "/api/messages", { Origin: own }, spawn)).status).toBe(401);
    expect((await raw("POST", "/api/messages", { Cookie: cookie, Origin: "https://evil.example" }, spawn)).status).toBe(403);
    expect((await raw("POST", "/api/messages", { Cookie: cookie }, spawn)).status).toBe(403);
    expect((await raw("GET", "/", { Host: `evil.example:${new URL(relay.url).port}` })).status).toBe(403);
    expect(relay.store.latestMessageId()).toBe(0);
    // the same request from the dashboard's own page passes
    expect((await raw("POST", "/api/messages", { Cookie: cookie, Origin: own }, spawn)).status).toBe(201);
    expect((await raw("GET", "/api/orchestrators", { Cookie: cookie })).status).toBe(200);
  });

  it("serves its page with a strict Content-Security-Policy and no inline script", async () => {
    const page = await raw("GET", "/", {});
    expect(page.status).toBe(200);
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/https?:\/\//);
  });
});
