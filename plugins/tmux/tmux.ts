import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { isSecretName } from "../../core/index.js";

export interface TmuxOptions {
  /** The tmux binary: a path, or a name looked up in PATH. */
  bin: string;
  /** `-L name`: a server socket of that name in tmux's socket directory. */
  socketName?: string;
  /** `-S path`: a server socket at that path. */
  socketPath?: string;
  /** Milliseconds one tmux command may take. */
  timeoutMs?: number;
}

export interface TmuxResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs tmux commands as argv arrays (never through a shell) on one server
 * socket. Several commands may go in one call, separated by `TMUX_SEP`.
 */
export class Tmux {
  /** Absolute path of the binary, so wrappers inside panes can call it too. */
  readonly bin: string;
  /** `-L name` or `-S path`, or nothing for the default server. */
  readonly socketArgs: readonly string[];

  constructor(private readonly options: TmuxOptions) {
    this.bin = which(options.bin);
    this.socketArgs = options.socketPath
      ? ["-S", options.socketPath]
      : options.socketName
        ? ["-L", options.socketName]
        : [];
  }

  /**
   * Runs one call. Arguments are escaped for tmux's own argv parsing (an
   * argument ending in ";" would otherwise end the command); pass `TMUX_SEP`
   * between commands.
   */
  run(args: ReadonlyArray<string | typeof TMUX_SEP>): Promise<TmuxResult> {
    // -u: tmux prints tabs and non-ASCII as they are, whatever the locale (with none, a tab would come out as "_").
    const argv = ["-u", ...this.socketArgs, ...args.map((a) => (a === TMUX_SEP ? ";" : escapeArg(a)))];
    return new Promise((resolve, reject) => {
      execFile(
        this.bin,
        argv,
        { timeout: this.options.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024, encoding: "utf8", env: serverEnv() },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== "number") {
            reject(new Error(`tmux (${this.bin}) could not run: ${error.message}`));
            return;
          }
          resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
        },
      );
    });
  }

  /** Runs a call and throws with tmux's own message when it fails. */
  async must(args: ReadonlyArray<string | typeof TMUX_SEP>): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) throw new Error(result.stderr.trim() || `tmux exited with status ${result.code}`);
    return result.stdout;
  }
}

/**
 * The environment tmux commands run with. The first one starts the server,
 * which keeps its client's environment as its global environment for as long
 * as it lives: the relay token and every secret-looking value stay out of it,
 * and so does the $TMUX of a terminal the daemon was started in (the user's
 * own tmux server, which neither we nor the agents should talk to).
 */
function serverEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("AGENT_RELAY_") && !isSecretName(name) && name !== "TMUX" && name !== "TMUX_PANE"),
  );
}

/** Separates commands within one tmux call. */
export const TMUX_SEP = Symbol("tmux command separator");

/** tmux reads an argument that ends in ";" as a command separator unless it ends in "\;". */
export function escapeArg(arg: string): string {
  return arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg;
}

/** tmux expands formats (`#{...}`, `#(command)`) in some arguments such as `-c`; "##" is a literal "#". */
export function escapeFormat(value: string): string {
  return value.replace(/#/g, "##");
}

/** Whether tmux's answer means that no server runs on the socket. */
export function isNoServer(stderr: string): boolean {
  return /no server running|error connecting to|failed to connect to server/i.test(stderr);
}

/** The absolute path of `bin` in PATH (or `bin` itself when it has a slash or is not found). */
export function which(bin: string): string {
  if (isAbsolute(bin) || bin.includes("/")) return bin;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return bin;
}
