import type { AgentBackend } from "../core/plugin.js";
import { safeJson } from "../core/text.js";

/** Where `logs --follow` writes, and how. */
export interface FollowOutput {
  write(text: string): void;
  /** A terminal: a redrawn screen is redrawn in place. */
  tty: boolean;
  /** One JSON object a line: `{ kind: "lines" | "screen", lines }`. */
  json: boolean;
  /** The terminal's height, to bound an in-place redraw. */
  rows?: number;
}

const HISTORY_WINDOW = 2000;

/**
 * `logs --follow`: prints only what changed. Line-oriented output (rows
 * kept, shifted up, new rows below; the last row may still be typed) prints
 * its new lines. A screen redrawn in place (a full-screen agent) is redrawn
 * in place on a terminal; elsewhere it is printed once it settles, once per
 * distinct screen, after a `--- screen ---` line. Ends when the session does.
 */
export async function followSession(backend: AgentBackend, session: string, shown: string[], out: FollowOutput, intervalMs = 500): Promise<void> {
  const first = await visible(backend, session);
  if (!first) return;
  // What our output shows (the capture and the screen it ends with), and the screen of the last look.
  let base = { all: shown, screen: first };
  let last = first;
  let live = Math.min(first.length, shown.length); // rows of the agent's screen now at the bottom of our terminal
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    let nextAll: string[] = [];
    let next: string[] | undefined;
    try {
      nextAll = await backend.capture(session, HISTORY_WINDOW);
      next = await visible(backend, session);
    } catch {
      next = undefined;
    }
    if (!next) {
      process.stderr.write(`${session} has ended\n`);
      return;
    }
    const kept = common(base.all, nextAll);
    // Only the last line rewritten (still being typed), or lines added: from there; else as `newLines` finds it.
    const fresh = kept >= base.all.length - 1 ? nextAll.slice(kept) : newLines(base.all, nextAll);
    // A program that clears the screen to redraw it, where tmux keeps the old screen in history: the new one is below it.
    const before = fresh.slice(0, Math.max(0, fresh.length - next.length));
    const clearedAndRedrawn = kept === base.all.length && base.screen.length > 1 && same(fresh.slice(before.length), next) && before.every((l) => l.trim() === "");
    // Lines printed faster than a look: more new lines than the screen holds.
    const scrolledPast = kept === base.all.length && !clearedAndRedrawn && fresh.length > next.length;
    if (!clearedAndRedrawn && (shifted(base.screen, next) || scrolledPast)) {
      if (fresh.length > 0) {
        const rewritesLast = kept === base.all.length - 1;
        if (out.json) out.write(safeJson({ kind: "lines", lines: fresh }) + "\n");
        else out.write((out.tty && rewritesLast ? "\x1b[1A\r\x1b[2K" : "") + fresh.join("\n") + "\n");
        live = Math.min(next.length, live + fresh.length - (rewritesLast ? 1 : 0));
      }
      base = { all: nextAll, screen: next };
    } else if (out.tty && !out.json) {
      const rows = next.slice(-Math.max(1, (out.rows ?? 24) - 1));
      out.write((live > 0 ? `\x1b[${live}A\r\x1b[J` : "") + rows.join("\n") + "\n");
      live = rows.length;
      base = { all: nextAll, screen: next };
    } else if (same(next, last)) {
      // Settled (unchanged since the last look): printed once.
      out.write(out.json ? safeJson({ kind: "screen", lines: next }) + "\n" : `--- screen ---\n${next.join("\n")}\n`);
      base = { all: nextAll, screen: next };
    }
    last = next;
  }
}

/** The visible screen without its trailing blank rows; undefined once the session is gone. */
async function visible(backend: AgentBackend, session: string): Promise<string[] | undefined> {
  const screen = (await backend.screens([session])).get(session);
  if (!screen) return undefined;
  const rows = [...screen.lines];
  while (rows.length > 0 && rows.at(-1)!.trim() === "") rows.pop();
  return rows;
}

/**
 * Whether `next` continues `prev` as lines do: every row of `prev` but its
 * last (which may still be typed) kept, in order, shifted up by some rows.
 */
export function shifted(prev: readonly string[], next: readonly string[]): boolean {
  if (prev.length <= 1) return true;
  const kept = prev.length - 1;
  for (let k = 0; k < kept; k++) {
    let ok = true;
    for (let i = k; i < kept && ok; i++) ok = prev[i] === next[i - k];
    if (ok) return true;
  }
  return false;
}

function common(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}

/**
 * What to print when a screen went from `prev` to `next`: lines appended
 * (scrolled output), or else everything from the first line that changed
 * (a full-screen program redrawing in place).
 */
export function newLines(prev: string[], next: string[]): string[] {
  let same = 0;
  while (same < prev.length && same < next.length && prev[same] === next[same]) same++;
  if (same > 0 || prev.length === 0) return next.slice(same);
  // The first line is gone: output scrolled past the history limit. Print
  // what follows the last place prev's tail stands in now.
  for (let k = Math.min(prev.length, 20); k > 0; k--) {
    const tail = prev.slice(-k);
    for (let j = next.length - k; j >= 0; j--) {
      if (tail.every((line, i) => next[j + i] === line)) return next.slice(j + k);
    }
  }
  return next;
}
