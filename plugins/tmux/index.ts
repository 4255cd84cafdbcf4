import { randomBytes } from "node:crypto";
import { mkdirSync, watch } from "node:fs";
import { mkdir, realpath, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import {
  ControlError,
  definePlugin,
  errorMessage,
  readPluginOptions,
  type AgentBackend,
  type AgentScreen,
  type ResolvedConfig,
  type BackendSession,
  type SessionMeta,
  type SpawnSpec,
} from "../../core/index.js";
import { escapeFormat, isNoServer, Tmux, TMUX_SEP, which } from "./tmux.js";
import { endProcesses, makeCgroup, NONCE_VAR, ProcessRecords, removeCgroup, SESSION_VAR, startOf } from "./processes.js";
import { AGENT_WRAPPER, ENV_WRAPPER } from "./wrapper.js";

export const TMUX_PLUGIN = "tmux";

/** The environment variable that sets `tmux.socketName`. */
export const TMUX_SOCKET_ENV = "AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET";

/**
 * The daemon's own tmux server (`tmux -L agent-relay`): agents never land on
 * the server of the terminal the daemon was started from ($TMUX), and a
 * daemon started anywhere finds the agents of the one before it.
 */
export const DEFAULT_SOCKET_NAME = "agent-relay";

const optionsSchema = z
  .object({
    bin: z.string().min(1).default("tmux"),
    socketName: z.string().regex(/^[A-Za-z0-9._-]+$/, "expected a plain socket name").default(DEFAULT_SOCKET_NAME),
    socketPath: z.string().min(1).optional(),
    width: z.number().int().min(20).max(1000).default(200),
    height: z.number().int().min(5).max(1000).default(50),
  })
  .strict();

export type TmuxPluginOptions = z.input<typeof optionsSchema>;

const FIELDS = ["#{session_name}", "#{pane_pid}", "#{pane_dead}", "#{@ar_exit}", "#{pane_dead_status}", "#{@ar_meta}", "#{pane_current_path}"];

/**
 * Runs agents in tmux sessions, one per agent, on a configurable server
 * socket. Each session carries its agent's metadata in the session option
 * `@ar_meta`, and the agent's exit status in the pane option `@ar_exit`
 * (written by a small wrapper: tmux's own `pane_dead_status` is often empty).
 */
export function tmuxPlugin(overrides: TmuxPluginOptions = {}) {
  return definePlugin({
    name: TMUX_PLUGIN,
    role: "backend",
    config: { section: "tmux", schema: optionsSchema, env: { [TMUX_SOCKET_ENV]: "socketName" } },
    apply(ctx) {
      const options = optionsSchema.parse({ ...readPluginOptions(ctx.config, "tmux", optionsSchema.partial()), ...overrides });
      const tmux = new Tmux(options);
      const spawnDir = join(ctx.config.stateDir, "spawn");
      const exitDir = join(ctx.config.stateDir, "exits");
      const touch = which("touch");
      const records = new ProcessRecords(join(ctx.config.stateDir, "procs"));

      const backend: AgentBackend = {
        async start(spec, record) {
          const baseReal = await realpath(ctx.config.baseDir);
          const notice = await createNotice(exitDir, spec.sessionName);
          // Every process of the agent inherits a marker a replaced env policy cannot drop; stop finds them by it.
          const nonce = randomBytes(8).toString("hex");
          removeCgroup((await records.load(spec.sessionName)).cgroup); // an earlier start's, if its session was never stopped
          const cgroup = makeCgroup(`${spec.sessionName}.${nonce}`, ctx.logger);
          await records.save(spec.sessionName, { nonce, ...(cgroup ? { cgroup } : {}) });
          const envFile = await writeEnvFile(spawnDir, spec, { [SESSION_VAR]: spec.sessionName, [NONCE_VAR]: nonce });
          const target = `=${spec.sessionName}`;
          let printed: string;
          try {
            // One call: start the session (printing its pane's pid), then store the metadata.
            printed = await tmux.must([
              "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", spec.sessionName,
              "-x", String(options.width), "-y", String(options.height),
              "-c", escapeFormat(spec.realCwd),
              "--", "/bin/sh", "-c", ENV_WRAPPER, "ar-agent", AGENT_WRAPPER, envFile, tmux.bin, notice, baseReal, touch,
              cgroup ? join(cgroup, "cgroup.procs") : "", ...spec.command,
              TMUX_SEP, "set-option", "-t", `${target}:`, "@ar_meta", encodeMeta(record),
              TMUX_SEP, "set-option", "-w", "-t", `${target}:`, "remain-on-exit", "on",
              // A screen cleared to be redrawn stays out of the history (tmux ≥ 3.3; -q: older ones have no such option),
              // so `logs` shows what the agent printed, not a copy of each screen.
              TMUX_SEP, "set-option", "-q", "-w", "-t", `${target}:`, "scroll-on-clear", "off",
            ]);
          } catch (err) {
            await Promise.all([rm(envFile, { force: true }), rm(notice, { force: true })]);
            removeCgroup(cgroup);
            await records.remove(spec.sessionName);
            if (/duplicate session/i.test(errorMessage(err))) {
              throw new ControlError("failed", "a session of that name exists that this orchestrator does not manage", { cause: err });
            }
            throw err;
          }
          const pid = Number(printed.trim());
          if (!Number.isSafeInteger(pid) || pid <= 0) return {};
          const since = startOf(pid); // its processes are no older than the pane's: stop reads no older one's env
          if (since !== undefined) await records.save(spec.sessionName, { nonce, ...(cgroup ? { cgroup } : {}), since });
          return { pid };
        },

        async list() {
          const result = await tmux.run(["list-sessions", "-F", FIELDS.join("\t")]);
          if (result.code !== 0) {
            if (isNoServer(result.stderr)) return [];
            throw new Error(`tmux list-sessions failed: ${result.stderr.trim()}`);
          }
          return result.stdout.split("\n").filter(Boolean).map(parseSession);
        },

        async stop(sessionName) {
          await rm(join(exitDir, sessionName), { force: true });
          // The pane's process leads the agent's group while it lives (a dead pane's pid may be reused: not trusted).
          const pane = await tmux.run(["display-message", "-p", "-t", `=${sessionName}:`, "#{pane_dead}\t#{pane_pid}"]);
          const [dead, pid] = pane.stdout.trim().split("\t");
          const record = await records.load(sessionName);
          const agent = { ...record, ...(pane.code === 0 && dead === "0" && Number(pid) > 1 ? { pgid: Number(pid) } : {}) };
          const leftovers = await endProcesses(agent, { termWaitMs: 2_000, killWaitMs: 3_000 });
          const result = await tmux.run(["kill-session", "-t", `=${sessionName}`]);
          if (result.code !== 0 && !/can't find session|no server running|error connecting/i.test(result.stderr)) {
            throw new Error(`tmux kill-session failed: ${result.stderr.trim()}`);
          }
          if (leftovers.length === 0) {
            removeCgroup(record.cgroup);
            await records.remove(sessionName);
          }
          return { leftovers };
        },

        async capture(sessionName, lines) {
          // From the start of history: the last output may sit above a screenful of blank rows.
          const out = await tmux.must(["capture-pane", "-p", "-J", "-S", "-", "-t", `=${sessionName}:`]);
          const all = out
            .split("\n")
            .map((l) => l.trimEnd())
            .filter((l) => !/^Pane is dead \(/.test(l));
          while (all.length > 0 && all.at(-1) === "") all.pop();
          return all.slice(-lines);
        },

        async screens(sessionNames) {
          if (sessionNames.length === 0) return new Map();
          let result = await tmux.run(screensCall(sessionNames));
          if (result.code !== 0) {
            if (isNoServer(result.stderr)) return new Map();
            // One of them vanished, which ends the call early: ask again for those that exist.
            const existing = new Set((await backend.list()).map((session) => session.name));
            result = await tmux.run(screensCall(sessionNames.filter((name) => existing.has(name))));
            if (result.code !== 0) throw new Error(`tmux capture-pane failed: ${result.stderr.trim()}`);
          }
          return parseScreens(result.stdout);
        },

        async sendKeys(sessionName, keys, { literal = false } = {}) {
          const target = `=${sessionName}:`;
          const text = keys.join("");
          if (literal && text.includes("\n")) {
            // Multi-line text goes in as a bracketed paste, so a newline does not press Enter.
            const buffer = `ar-${sessionName}`;
            await tmux.must(["set-buffer", "-b", buffer, "--", text, TMUX_SEP, "paste-buffer", "-p", "-d", "-b", buffer, "-t", target]);
            return;
          }
          await tmux.must(["send-keys", "-t", target, ...(literal ? ["-l"] : []), "--", ...keys]);
        },

        onExit(listener) {
          mkdirSync(exitDir, { recursive: true, mode: 0o700 });
          // The wrapper touches a notice the daemon created ("change"); creating and removing notices ("rename") is ours.
          const watcher = watch(exitDir, (event) => event === "change" && listener());
          watcher.on("error", (err) => ctx.logger.warn(`watching ${exitDir}: ${err.message}`));
          ctx.onClose(() => watcher.close());
        },

        attachCommand(sessionName) {
          return [tmux.bin, ...tmux.socketArgs, "attach-session", "-t", `=${sessionName}`];
        },
      };
      ctx.provideBackend(backend);

      ctx.hooks.onDoctor.tap(async (checks) => {
        const where = tmux.socketArgs.length ? ` (socket ${tmux.socketArgs.join(" ")})` : " (default socket)";
        try {
          const version = (await tmux.must(["-V"])).trim();
          const m = version.match(/(\d+)\.(\d+)/);
          const ok = m !== null && (Number(m[1]) > 3 || (Number(m[1]) === 3 && Number(m[2]) >= 0));
          checks.push({ name: "tmux", status: ok ? "ok" : "fail", detail: ok ? `${version}${where}` : `${version}: tmux 3.0 or newer is needed` });
        } catch (err) {
          checks.push({ name: "tmux", status: "fail", detail: `cannot run ${tmux.bin}: ${(err as Error).message}` });
        }
      });
    },
  });
}

/**
 * The path of the socket the tmux backend of `config` uses (`socketPath`, or
 * where tmux puts `-L socketName`: $TMUX_TMPDIR or /tmp, then tmux-<uid>),
 * so a client in any directory can reach the same server with `-S`.
 */
export function tmuxSocketPath(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): string {
  const options = optionsSchema.parse(readPluginOptions(config, "tmux", optionsSchema.partial()));
  if (options.socketPath) return resolve(options.socketPath);
  return join(env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid?.() ?? 0}`, options.socketName);
}

/**
 * The exit-notice file of a session, created new (never through a symlink
 * left in its place); the wrapper touches it when the agent ends.
 */
async function createNotice(dir: string, sessionName: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, sessionName);
  await rm(file, { force: true });
  await writeFile(file, "", { flag: "wx", mode: 0o600 });
  return file;
}

/** The agent's env goes to the wrapper in an owner-only file it deletes, never on a command line. */
async function writeEnvFile(dir: string, spec: SpawnSpec, markers: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  for (const [name, value] of Object.entries({ ...spec.env, ...markers })) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment variable name "${name}"`);
    if (/[\n\0]/.test(value)) throw new Error(`the value of ${name} contains a newline or NUL, which tmux sessions cannot take`);
    lines.push(`${name}=${value}`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${spec.sessionName}.${randomBytes(6).toString("hex")}.env`);
  await writeFile(file, lines.join("\n") + "\n", { mode: 0o600 });
  return file;
}

/** The session's record as JSON with every non-ASCII character escaped, so no locale setting can mangle it. */
function encodeMeta(record: SessionMeta): string {
  return JSON.stringify(record).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function parseSession(line: string): BackendSession {
  const [name = "", pid, dead, arExit, deadStatus, rawMeta, ...path] = line.split("\t");
  const session: BackendSession = { name, dead: dead === "1" };
  const pidNumber = Number(pid);
  if (Number.isSafeInteger(pidNumber) && pidNumber > 0) session.pid = pidNumber;
  const exit = arExit || deadStatus;
  if (session.dead && exit && /^\d+$/.test(exit)) session.exitCode = Number(exit);
  if (rawMeta) {
    try {
      const meta = JSON.parse(rawMeta) as SessionMeta;
      if (meta && meta.v === 1 && typeof meta.provider === "string") session.meta = meta;
    } catch {
      // not ours, or damaged: treated like a session without metadata
    }
  }
  if (path.length > 0) session.currentPath = path.join("\t");
  return session;
}

const SCREEN_MARK = "\u001eAR-SCREEN ";

/** One call: every pane's state, then each named session's visible screen after a marker line. */
function screensCall(sessionNames: readonly string[]): Array<string | typeof TMUX_SEP> {
  const args: Array<string | typeof TMUX_SEP> = ["list-panes", "-a", "-F", "#{session_name}\t#{pane_dead}\t#{@ar_exit}\t#{pane_dead_status}"];
  for (const name of sessionNames) {
    args.push(TMUX_SEP, "display-message", "-p", `${SCREEN_MARK}${name}`, TMUX_SEP, "capture-pane", "-p", "-J", "-t", `=${name}:`);
  }
  return args;
}

function parseScreens(stdout: string): Map<string, AgentScreen> {
  const screens = new Map<string, AgentScreen>();
  let current: AgentScreen | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith(SCREEN_MARK)) {
      current = screens.get(line.slice(SCREEN_MARK.length));
      continue;
    }
    if (current) {
      // tmux's own line under a dead pane is not the agent's output.
      if (!/^Pane is dead \(/.test(line)) current.lines.push(line.trimEnd());
      continue;
    }
    const [name, dead, arExit, deadStatus] = line.split("\t");
    if (!name || screens.has(name)) continue;
    const screen: AgentScreen = { lines: [], dead: dead === "1" };
    const exit = arExit || deadStatus;
    if (screen.dead && exit && /^\d+$/.test(exit)) screen.exitCode = Number(exit);
    screens.set(name, screen);
  }
  for (const screen of screens.values()) {
    while (screen.lines.length > 0 && screen.lines.at(-1) === "") screen.lines.pop();
  }
  return screens;
}
