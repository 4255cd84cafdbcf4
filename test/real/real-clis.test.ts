import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestHome } from "../support/env.js";
import { FakeApi } from "../support/fake-api.js";
import { FAKE_ANTHROPIC_KEY, loginCodex, OFFLINE_ENV, realCli, seedClaudeLogin, skipReason } from "../support/real-clis.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// Issue #15.6: the real claude and codex, from npm, under `up` (our relay on port 0, the daemon,
// an isolated tmux server), offline against a fake API on loopback.

let api: FakeApi;
let home: TestHome;
let tmux: TestTmux;
let up: TestUp;
const cleanup: Array<() => void> = [];

beforeEach(async () => {
  api = await new FakeApi().start();
  home = new TestHome({ settleClaude: false, loginCodex: false });
  tmux = new TestTmux();
});

afterEach(async () => {
  await up?.stop();
  tmux.kill();
  await api.stop();
  for (const c of cleanup.splice(0)) c();
  home.remove();
});

/** `up` with this config file (JSON), in this test's HOME. */
async function startUp(config: Record<string, unknown>): Promise<TestUp> {
  const file = join(home.root, "orchestrator.config.json");
  writeFileSync(file, JSON.stringify(config));
  up = await new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: file }).start();
  return up;
}

/** This agent's record in `ps --json`. */
async function psAgent(session: string): Promise<Record<string, any> | undefined> {
  const ps = await up.cli(["ps", "--json"]);
  const hosts = JSON.parse(ps.stdout) as Array<{ agents: Array<Record<string, any>> }>;
  return hosts.flatMap((h) => h.agents).find((a) => a.tmuxSession === session);
}

/** The pane's screen, to say what was on it when a wait fails. */
const screen = (session: string) => tmux.capture(session);

/** Live states `ps --json` showed for an agent, in order, each once per stretch. */
const seen: string[] = [];

/** Polls `ps --json` until the agent's live state is `state`; its record. Every state seen on the way goes to `seen`. */
async function untilState(session: string, state: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  return waitFor(
    `${session} to be ${state} in ps --json`,
    async () => {
      const agent = await psAgent(session);
      const now = agent ? (agent.state ?? `(no state; status ${agent.status})`) : "(not listed)";
      if (now !== seen.at(-1)) seen.push(now);
      return agent?.state === state ? agent : undefined;
    },
    timeoutMs,
    200,
  ).catch((err) => {
    throw new Error(`${err} (states seen: ${seen.join(" → ")})\n${screen(session)}`);
  });
}

describe(`real claude${skipReason("claude") ? ` (${skipReason("claude")})` : ""}`, () => {
  const claude = realCli("claude");

  it.skipIf(!claude)("starts under the daemon (its trust dialog answered), answers the spawn's prompt, and the API heard that prompt once", async () => {
    seedClaudeLogin(home);
    api.on("Say hello to the test", { text: "Hello from the fake model." });
    const u = await startUp({ env: { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: FAKE_ANTHROPIC_KEY, ...OFFLINE_ENV }, claude: { bin: claude } });

    const spawned = await u.cli(["spawn", "claude", "--label", "real", "--approval-mode", "default", "--prompt", "Say hello to the test"]);
    expect(spawned, screen("ar-claude-real")).toMatchObject({ code: 0, stderr: "" });
    expect(spawned.stdout).toMatch(/ar-claude-real\s+claude\s+real\s+ready/);

    await waitFor("the answer on claude's screen", () => screen("ar-claude-real").includes("Hello from the fake model."), 60_000).catch((err) => {
      throw new Error(`${err}\n${screen("ar-claude-real")}`);
    });
    expect(api.timesSaid("Say hello to the test")).toBe(1);
    expect(await psAgent("ar-claude-real")).toMatchObject({ provider: "claude", label: "real", status: "ready" });
  });
});

describe(`real claude through a full turn${skipReason("claude") ? ` (${skipReason("claude")})` : ""}`, () => {
  const claude = realCli("claude");

  it.skipIf(!claude)(
    "--permission-mode default: spawn → idle; a send is delivered and said to the model once, working until it answers, then idle; a Bash tool call → blocked with its question and options → respond Yes → the tool runs → idle",
    async () => {
      // The folder trusted before (the first test has the daemon answer the trust dialog): under load, claude
      // took over 3 s to leave that dialog once answered, and the daemon gives up after 3 answers 1 s apart.
      seedClaudeLogin(home, { trusted: [home.baseDir] });
      let answer!: () => void;
      api.on("Start the first task", { text: "First task done.", until: new Promise((r) => (answer = () => r(undefined))) });
      api.on("Please touch done.txt", { bash: "touch done.txt" }, { text: "Touched done.txt." });
      const u = await startUp({ env: { ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: FAKE_ANTHROPIC_KEY, ...OFFLINE_ENV }, claude: { bin: claude } });
      const session = "ar-claude-turn";

      // Spawned without a prompt (claude gets the default one as its argument), it ends up idle.
      expect(await u.cli(["spawn", "claude", "--label", "turn", "--approval-mode", "default"]), screen(session)).toMatchObject({ code: 0, stderr: "" });
      await untilState(session, "idle");
      expect((await u.cli(["ps"])).stdout).toMatch(/ar-claude-turn\s+claude\s+turn\s+idle\s/);

      // A prompt with send: delivered; working while the model has not answered, idle once it has.
      const sent = await u.cli(["send", "turn", "Start the first task"]);
      expect(sent, screen(session)).toMatchObject({ code: 0, stderr: "" });
      expect(sent.stdout).toMatch(/^box: delivered to ar-claude-turn at \d{4}-/);
      seen.length = 0;
      await untilState(session, "working");
      answer();
      await untilState(session, "idle");
      expect(screen(session)).toContain("First task done.");
      expect(seen.slice(seen.indexOf("working"))).toEqual(["working", "idle"]);
      expect(api.timesSaid("Start the first task")).toBe(1);

      // A tool call in the default mode: blocked on claude's permission prompt, with its options.
      expect(await u.cli(["send", "turn", "Please touch done.txt"])).toMatchObject({ code: 0, stderr: "" });
      const blocked = await untilState(session, "blocked");
      expect(blocked).toMatchObject({ question: "Do you want to proceed?", options: ["Yes", expect.stringMatching(/^Yes, and always allow/), "No"] });
      const ps = (await u.cli(["ps"])).stdout;
      expect(ps).toMatch(/ar-claude-turn\s+claude\s+turn\s+blocked\s/);
      expect(ps).toContain("└ Do you want to proceed?  [Yes | Yes, and always allow");
      expect(existsSync(join(home.baseDir, "done.txt"))).toBe(false);

      // respond "Yes": the tool runs, the model gets its result and answers, the agent is idle again.
      const responded = await u.cli(["respond", "turn", "Yes"]);
      expect(responded, screen(session)).toMatchObject({ code: 0, stderr: "" });
      await waitFor("done.txt, made by the approved tool", () => existsSync(join(home.baseDir, "done.txt")), 60_000);
      await waitFor("the answer after the tool", () => screen(session).includes("Touched done.txt."), 60_000);
      await untilState(session, "idle");
      // The last request carries the whole conversation: each text was said once.
      expect(api.timesSaid("Start the first task")).toBe(1);
      expect(api.timesSaid("Please touch done.txt")).toBe(1);
    },
  );
});

describe(`real codex${skipReason("codex") ? ` (${skipReason("codex")})` : ""}`, () => {
  const codex = realCli("codex");

  it.skipIf(!codex)("logged in with --with-api-key, starts under the daemon, takes the typed prompt, and its answer shows", async () => {
    const login = loginCodex(home);
    cleanup.push(login.remove);
    api.on("Say hello to codex", { text: "Hello from the fake codex model." });
    const u = await startUp({
      env: { CODEX_HOME: login.codexHome, ...OFFLINE_ENV },
      codex: { bin: codex, args: ["-c", `openai_base_url="${api.url}/v1"`] },
    });

    const spawned = await u.cli(["spawn", "codex", "--label", "real", "--prompt", "Say hello to codex"]);
    expect(spawned, screen("ar-codex-real")).toMatchObject({ code: 0, stderr: "" });
    expect(spawned.stdout).toMatch(/ar-codex-real\s+codex\s+real\s+ready/);

    await waitFor("the answer on codex's screen", () => screen("ar-codex-real").includes("Hello from the fake codex model."), 60_000).catch((err) => {
      throw new Error(`${err}\n${screen("ar-codex-real")}`);
    });
    expect(api.timesSaid("Say hello to codex")).toBe(1);
    expect(await psAgent("ar-codex-real")).toMatchObject({ provider: "codex", label: "real", status: "ready" });
  });
});

describe(`real codex, live state and send${skipReason("codex") ? ` (${skipReason("codex")})` : ""}`, () => {
  const codex = realCli("codex");

  it.skipIf(!codex)("spawned without a prompt it is idle in ps; a send is delivered, working until the model answers, the answer on its screen, said once; idle again", async () => {
    const login = loginCodex(home);
    cleanup.push(login.remove);
    let answer!: () => void;
    api.on("A prompt sent to codex", { text: "Codex heard the prompt.", until: new Promise((r) => (answer = () => r(undefined))) });
    const u = await startUp({
      env: { CODEX_HOME: login.codexHome, ...OFFLINE_ENV },
      codex: { bin: codex, args: ["-c", `openai_base_url="${api.url}/v1"`] },
    });
    const session = "ar-codex-talk";
    seen.length = 0;

    expect(await u.cli(["spawn", "codex", "--label", "talk"])).toMatchObject({ code: 0, stderr: "" });
    await untilState(session, "idle");
    const sent = await u.cli(["send", "talk", "A prompt sent to codex"]);
    expect(sent, screen(session)).toMatchObject({ code: 0, stderr: "" });
    expect(sent.stdout).toMatch(/^box: delivered to ar-codex-talk at \d{4}-/);
    await untilState(session, "working");
    answer();
    await waitFor("codex's answer on its screen", () => screen(session).includes("Codex heard the prompt."), 60_000);
    await untilState(session, "idle");
    // A look right after the spawn's answer may still find it starting: its first screen is not read yet.
    expect(seen.filter((s, i) => !(i === 0 && s === "starting"))).toEqual(["idle", "working", "idle"]);
    expect(api.timesSaid("A prompt sent to codex")).toBe(1);
  });
});
