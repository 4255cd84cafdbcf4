/**
 * A generic provider for any terminal program that takes work at a prompt:
 * a REPL, aider, gemini, or your own agent CLI. Give it the command, what
 * its ready screen looks like, and (if it shows any) its start-up dialogs;
 * the daemon then starts it in tmux, answers the dialogs, waits for the
 * ready screen, types the initial prompt and reports the agent `ready`.
 *
 * Use it from an orchestrator.config.ts:
 *
 *   import tuiProvider from "./examples/tui-provider.ts";
 *   export default {
 *     providers: ["claude", "aider"],
 *     plugins: [tuiProvider({ name: "aider", command: ["aider", "--no-auto-commits"], ready: { all: ["^> ?$"] } })],
 *   };
 */
import { ControlError, defineProvider, type DialogRule, type Plugin, type ScreenMatch } from "agent-relay-orchestrator";

export interface TuiProviderOptions {
  /** The provider's name, as spawn controls name it. */
  name: string;
  /** argv of the program; the agent's cwd is set by the backend. */
  command: string[];
  /** What the screen shows when the program waits for input. */
  ready: ScreenMatch;
  /** Dialogs it may show first, answered by option label or keys. */
  dialogs?: DialogRule[];
  /**
   * `type` (default): typed at the ready prompt. `argument`: on the command
   * line, never where it could be read as an option: after `--`, or as
   * `--flag=<prompt>` with a long `promptFlag`.
   */
  promptDelivery?: "type" | "argument";
  promptFlag?: string;
  /** Keys that make it exit (default Ctrl-D, then Ctrl-C). */
  stopKeys?: string[][];
  /** Arguments that print its version, for `doctor` (default --version). */
  versionArgs?: string[];
  startTimeoutMs?: number;
}

export default function tuiProvider(options: TuiProviderOptions): Plugin {
  const { name, command, ready } = options;
  if (command.length === 0) throw new Error(`tui provider "${name}": command is empty`);
  const delivery = options.promptDelivery ?? "type";
  return defineProvider({
    name,
    binary: { bin: command[0]!, versionArgs: options.versionArgs ?? ["--version"] },
    command(spec) {
      if (delivery === "argument" && spec.prompt) return { command: [...command, ...promptArgs(options.promptFlag, spec.prompt)] };
      return { command: [...command] };
    },
    ready,
    dialogs: options.dialogs ?? [],
    prompt: { delivery, enterDelayMs: 200 },
    stop: { keys: options.stopKeys ?? [["C-d"], ["C-c"]], intervalMs: 300, graceMs: 2_000 },
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
  });
}

/** The prompt as arguments that no option parser takes for an option. */
function promptArgs(flag: string | undefined, prompt: string): string[] {
  if (!flag) return ["--", prompt];
  if (flag.startsWith("--")) return [`${flag}=${prompt}`];
  if (prompt.startsWith("-")) throw new ControlError("invalid", `a prompt given with ${flag} may not start with "-"; use a long promptFlag`);
  return [flag, prompt];
}
