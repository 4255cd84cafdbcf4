/**
 * The exactly-once and control path (target: a mutation score of 80 % or
 * more), and why each of its surviving mutants survives: a mutant the unit
 * tests do not kill is either killed by a new test or listed here with its
 * reason. `npm run mutate:readme` pairs them by file, mutator, original text
 * and replacement, and names any survivor without a reason.
 */
export const KEY_FILES = ["core/inbox.ts", "core/journal.ts", "core/outbox.ts", "core/controls.ts", "core/control.ts"];

export interface SurvivorReason {
  file: string;
  mutator: string;
  /** The mutated text, on one line (as the summary shows it). */
  original: string;
  replacement: string;
  reason: string;
}

export const SURVIVORS: SurvivorReason[] = [];
