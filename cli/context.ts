import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { sourceLabel, type ConfigSource, type ResolvedConfig } from "../core/config/schema.js";
import { ensurePrivateDir } from "../core/private-dir.js";

/**
 * The local context: where the daemon of this user runs, written by `up` and
 * `run` to `~/.agent-relay/context.json` (owner-only) and read by every
 * client command, so a second terminal in any directory needs no flags or
 * environment. It names the token's file, never the token.
 */
export interface LocalContext {
  /** The daemon's process; a context whose process is gone is stale. */
  pid: number;
  command: "up" | "run";
  startedAt: number;
  /** The daemon's orchestrator id (the agents' sessions carry it). */
  id: string;
  relayUrl: string;
  /** The file that holds the relay token, when the token is in one. */
  tokenFile?: string;
  /** The config file the daemon loaded; absent when it loaded none. */
  configFile?: string;
  /** The tmux server of the agents, as a socket path (`tmux -S`). */
  tmuxSocket?: string;
}

/** What a client found: the context of a live daemon, or why there is none. */
export interface FoundContext {
  file: string;
  context?: LocalContext;
  /** Why the file was not used (stale, unreadable, not owner-only); undefined when there is no file. */
  ignored?: string;
}

/** `~/.agent-relay/context.json`, under $HOME. */
export function contextFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME || homedir(), ".agent-relay", "context.json");
}

/**
 * Writes this daemon's context (atomically, owner-only, in an owner-only
 * directory) and removes it when the process exits, unless another daemon
 * has written its own since.
 */
export function writeContext(context: Omit<LocalContext, "pid" | "startedAt">, warn: (text: string) => void): string {
  const file = contextFile();
  ensurePrivateDir(dirname(file), "the context directory", warn);
  const full: LocalContext = { pid: process.pid, startedAt: Date.now(), ...context };
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(full, null, 2) + "\n", { mode: 0o600 });
  renameSync(temp, file);
  process.on("exit", () => {
    try {
      if ((JSON.parse(readFileSync(file, "utf8")) as LocalContext).pid === process.pid) unlinkSync(file);
    } catch {
      // gone already, or replaced by something that is not ours to remove
    }
  });
  return file;
}

/**
 * Writes the context of a daemon that has started: its relay, the token's
 * file (`tokenFile`, or the file the config's token came from when that is
 * not the config file itself), its config file and its tmux socket.
 */
export async function saveDaemonContext(
  command: LocalContext["command"],
  config: ResolvedConfig,
  relay: { relayUrl: string; tokenFile?: string | undefined },
  logger: { info(text: string): void; warn(text: string): void },
): Promise<void> {
  const token = config.sources.token;
  const tokenFile = relay.tokenFile ?? (token?.kind === "file" && token.file !== config.configFile ? token.file : undefined);
  let tmuxSocket: string | undefined;
  if (!config.disablePlugins.includes("tmux")) tmuxSocket = (await import("../plugins/tmux/index.js")).tmuxSocketPath(config);
  const file = writeContext(
    {
      command,
      id: config.id,
      relayUrl: relay.relayUrl,
      ...(tokenFile ? { tokenFile } : {}),
      ...(config.configFile ? { configFile: config.configFile } : {}),
      ...(tmuxSocket ? { tmuxSocket } : {}),
    },
    (text) => logger.warn(text),
  );
  logger.info(`context in ${file}: client commands in any directory use this daemon${tmuxSocket ? `; agents on tmux -S ${tmuxSocket}` : ""}`);
}

/** Reads the context, if a live daemon of this user wrote one. */
export function readContext(env: NodeJS.ProcessEnv = process.env): FoundContext {
  const file = contextFile(env);
  if (!existsSync(file)) return { file };
  try {
    const info = statSync(file);
    const uid = process.getuid?.();
    if ((uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0) {
      return { file, ignored: `${file} is not this user's alone (owner uid ${info.uid}, mode ${(info.mode & 0o777).toString(8)}), so it is ignored` };
    }
    const context = JSON.parse(readFileSync(file, "utf8")) as LocalContext;
    if (!Number.isSafeInteger(context?.pid) || typeof context.relayUrl !== "string" || typeof context.id !== "string") {
      return { file, ignored: `${file} is damaged, so it is ignored` };
    }
    if (!alive(context.pid)) {
      return { file, ignored: `${file} names pid ${context.pid}, which is no longer running (that daemon did not stop cleanly)` };
    }
    return { file, context };
  } catch (err) {
    return { file, ignored: `${file} cannot be read (${(err as Error).message}), so it is ignored` };
  }
}

/**
 * The config file a client command loads: `--config`, else the one named by
 * $AGENT_RELAY_ORCHESTRATOR_CONFIG, else the daemon's (none, if it loaded
 * none), else the one discovery finds (undefined).
 */
export function contextConfigFile(flag: string | undefined, found: FoundContext | undefined, env: NodeJS.ProcessEnv = process.env): string | false | undefined {
  if (flag !== undefined || env.AGENT_RELAY_ORCHESTRATOR_CONFIG || !found?.context) return flag;
  const { configFile } = found.context;
  return configFile === undefined ? false : existsSync(configFile) ? configFile : undefined;
}

/**
 * The config with the daemon's relay URL, id and tmux socket where nothing
 * stronger set them: flags, the environment and a config file other than the
 * daemon's win over the context. Each value taken names the context file as
 * its source.
 */
export function applyContext(config: ResolvedConfig, found: FoundContext | undefined, socketEnv: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const context = found?.context;
  if (!context) return config;
  const source: ConfigSource = { kind: "file", file: found.file };
  const wins = (s: ConfigSource | undefined) => s !== undefined && s.kind !== "default" && !("file" in s && s.file === context.configFile);
  const core: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = { ...config.sources };
  for (const key of ["relayUrl", "id"] as const) {
    if (wins(config.sources[key])) continue;
    core[key] = context[key];
    sources[key] = source;
  }
  let pluginOptions = config.pluginOptions;
  const tmuxSet = env[socketEnv] || wins(config.sources["tmux.socketName"]) || wins(config.sources["tmux.socketPath"]);
  if (context.tmuxSocket && !tmuxSet) {
    pluginOptions = { ...pluginOptions, tmux: { ...pluginOptions.tmux, socketPath: context.tmuxSocket } };
    sources["tmux.socketPath"] = source;
  }
  return Object.freeze({ ...config, ...core, pluginOptions, sources });
}

/**
 * Where the relay URL of `config` came from, for errors that cannot reach
 * it: the flag, the variable, the file, or the default, and then whether a
 * daemon runs on this host at all.
 */
export function relayOrigin(config: ResolvedConfig): string {
  const source = config.sources.relayUrl;
  const found = readContext();
  if (source?.kind === "file" && source.file === found.file) return `from the context file ${found.file}, written by \`${found.context?.command ?? "up"}\` (pid ${found.context?.pid})`;
  const from = source && source.kind !== "default" ? `from ${sourceLabel(source)}` : "the default URL";
  return found.context ? from : `${from}, and ${noDaemon(found)}`;
}

/** Says that no daemon of this user runs here, and why the context says so; "" when one does. */
export function noDaemon(found: FoundContext = readContext()): string {
  if (found.context) return "";
  const why = found.ignored ?? `${found.file} does not exist`;
  return `no daemon is running on this host: ${why}; start one with \`agent-relay-orchestrator up\``;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
