import { errorMessage } from "./errors.js";
import { sanitizeTyped } from "./text.js";
import { answerKeys, screenMatches, type AgentProvider } from "./provider.js";
import type { Logger } from "./logger.js";
import type { AgentBackend } from "./plugin.js";
import type { AgentScreen } from "./types.js";

export type StartupOutcome =
  | { status: "ready"; readyAt: number }
  | { status: "stuck"; detail: string; lastLines: string[] }
  | { status: "exited"; code?: number; detail: string; lastLines: string[] };

interface Watch {
  session: string;
  provider: AgentProvider;
  prompt?: string;
  deadline: number;
  timeoutMs: number;
  /** When each dialog was last answered, and how often. */
  answered: Map<string, { at: number; count: number }>;
  lastDialog?: string;
  busy: boolean;
  promptSent: boolean;
  lastScreen: string[];
  missing: number;
  /** Told each time a dialog is answered (progress a client can show). */
  onDialog?: (dialogId: string) => void;
  resolve(outcome: StartupOutcome): void;
}

/** Before a dialog still on screen is answered again: 1 s after the first answer, then 2 s, 4 s (a loaded host redraws slowly). */
const ANSWER_SETTLE_MS = 1_000;
const MAX_ANSWERS = 3;

/**
 * Watches agents start: every `intervalMs`, one backend call reads the
 * screens of all starting agents; dialogs are answered by their rules, the
 * prompt is typed when the provider wants that, and each start ends as
 * `ready`, `stuck` (time ran out) or `exited`. Agents never wait on each other.
 */
export class StartupWatcher {
  private readonly watches = new Map<string, Watch>();
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly backend: () => AgentBackend,
    private readonly logger: Logger,
    private readonly intervalMs = 100,
  ) {}

  watch(session: string, provider: AgentProvider, prompt: string | undefined, timeoutMs: number, onDialog?: (dialogId: string) => void): Promise<StartupOutcome> {
    return new Promise((resolve) => {
      this.watches.set(session, {
        session,
        provider,
        ...(prompt ? { prompt } : {}),
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        answered: new Map(),
        busy: false,
        promptSent: !prompt || provider.prompt?.delivery !== "type",
        lastScreen: [],
        missing: 0,
        ...(onDialog ? { onDialog } : {}),
        resolve: (outcome) => {
          this.watches.delete(session);
          resolve(outcome);
        },
      });
      this.schedule();
    });
  }

  /** Stops watching a session (it is being stopped on purpose). */
  forget(session: string, outcome: StartupOutcome): void {
    this.watches.get(session)?.resolve(outcome);
  }

  private schedule(): void {
    if (this.timer || this.ticking || this.watches.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = true;
      this.tick()
        .catch((err) => this.logger.warn(`start-up watcher: ${errorMessage(err)}`))
        .finally(() => {
          this.ticking = false;
          this.schedule();
        });
    }, this.intervalMs);
  }

  private async tick(): Promise<void> {
    const backend = this.backend();
    const screens = await backend.screens([...this.watches.keys()]);
    for (const watch of [...this.watches.values()]) {
      const screen = screens.get(watch.session);
      if (!screen) {
        // Missing twice in a row, not once: a look can miss a session tmux is still setting up.
        if (watch.missing++ >= 1) watch.resolve({ status: "exited", detail: "its session vanished during start-up", lastLines: watch.lastScreen });
        continue;
      }
      watch.missing = 0;
      if (screen.dead) {
        await this.exited(backend, watch, screen);
        continue;
      }
      watch.lastScreen = screen.lines;
      if (!watch.busy) this.step(backend, watch, screen);
    }
  }

  private async exited(backend: AgentBackend, watch: Watch, screen: AgentScreen): Promise<void> {
    const lastLines = await backend.capture(watch.session, 20).catch(() => nonEmpty(screen.lines));
    const tail = nonEmpty(lastLines).slice(-3).join(" | ");
    const code = screen.exitCode === undefined ? "an unknown status" : `status ${screen.exitCode}`;
    // An exit hint (or a blocker) on its last screen says how to fix the exit.
    const blocker = [...(watch.provider.exitHints ?? []), ...(watch.provider.blockers ?? [])].find((b) => screenMatches(lastLines, b.match));
    watch.resolve({
      status: "exited",
      ...(screen.exitCode !== undefined ? { code: screen.exitCode } : {}),
      detail: `exited with ${code} during start-up${tail ? `: ${tail}` : ""}${blocker ? `; ${blocker.detail}` : ""}`,
      lastLines: nonEmpty(lastLines),
    });
  }

  private step(backend: AgentBackend, watch: Watch, screen: AgentScreen): void {
    const { provider } = watch;
    const now = Date.now();
    const blocker = provider.blockers?.find((b) => screenMatches(screen.lines, b.match));
    if (blocker) {
      this.stuck(watch, blocker.detail);
      return;
    }
    const working = provider.working !== undefined && watch.promptSent && screenMatches(screen.lines, provider.working);
    if (working || screenMatches(screen.lines, provider.ready)) {
      if (watch.promptSent) {
        watch.resolve({ status: "ready", readyAt: now });
        return;
      }
      this.run(watch, () => this.typePrompt(backend, watch));
      return;
    }
    const dialog = provider.dialogs?.find((d) => screenMatches(screen.lines, d.match));
    if (dialog) {
      watch.lastDialog = dialog.id;
      const keys = answerKeys(dialog, screen.lines);
      const last = watch.answered.get(dialog.id);
      if (keys && (!last || now - last.at > ANSWER_SETTLE_MS * 2 ** (last.count - 1))) {
        if (last && last.count >= MAX_ANSWERS) {
          this.stuck(watch, `still on dialog "${dialog.id}" after ${MAX_ANSWERS} answers`);
          return;
        }
        watch.answered.set(dialog.id, { at: now, count: (last?.count ?? 0) + 1 });
        this.logger.debug(`${watch.session}: answering dialog "${dialog.id}" with ${keys.join(" ")}`);
        this.run(watch, async () => {
          await backend.sendKeys(watch.session, keys);
          watch.onDialog?.(dialog.id);
        });
        return;
      }
    }
    if (now > watch.deadline) {
      this.stuck(
        watch,
        watch.lastDialog
          ? `stuck on dialog "${watch.lastDialog}"`
          : `no ready screen within ${Math.round(watch.timeoutMs / 1000)} s`,
      );
    }
  }

  private stuck(watch: Watch, detail: string): void {
    const excerpt = nonEmpty(watch.lastScreen).slice(-15);
    watch.resolve({ status: "stuck", detail: `${detail}${excerpt.length ? `; screen ends: ${excerpt.slice(-3).join(" | ")}` : ""}`, lastLines: excerpt });
  }

  /** Types the prompt as AGENT-CLIS.md says: text literally, a pause, Enter; once more Enter for a paste. */
  private async typePrompt(backend: AgentBackend, watch: Watch): Promise<void> {
    const rules = watch.provider.prompt;
    // Typed text is data: no Enter (\r), Ctrl-C or escape sequence (a paste's end) may hide in it.
    await backend.sendKeys(watch.session, [sanitizeTyped(watch.prompt!)], { literal: true });
    await sleep(rules?.enterDelayMs ?? 300);
    await backend.sendKeys(watch.session, ["Enter"]);
    if (rules?.pastedMarker) {
      await sleep(300);
      const screen = (await backend.screens([watch.session])).get(watch.session);
      if (screen?.lines.some((l) => l.includes(rules.pastedMarker!))) await backend.sendKeys(watch.session, ["Enter"]);
    }
    await this.confirmTaken(backend, watch);
    watch.promptSent = true;
    watch.resolve({ status: "ready", readyAt: Date.now() });
  }

  /** Waits (briefly) until the agent shows it took the prompt: working, or the text gone from its input line. */
  private async confirmTaken(backend: AgentBackend, watch: Watch): Promise<void> {
    const { working } = watch.provider;
    const probe = sanitizeTyped(watch.prompt!).split("\n")[0]!.trim().slice(0, 30);
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) {
      const screen = (await backend.screens([watch.session])).get(watch.session);
      if (!screen || screen.dead) return;
      if (working && screenMatches(screen.lines, working)) return;
      if (!working && !screen.lines.some((l) => l.includes(probe))) return;
      await sleep(50);
    }
    this.logger.debug(`${watch.session}: could not see the prompt being taken; counting it delivered`);
  }

  private run(watch: Watch, task: () => Promise<void>): void {
    watch.busy = true;
    task()
      .catch((err) => this.logger.warn(`${watch.session}: ${errorMessage(err)}`))
      .finally(() => {
        watch.busy = false;
      });
  }
}

function nonEmpty(lines: readonly string[]): string[] {
  return lines.filter((l) => l.trim() !== "");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
