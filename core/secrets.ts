import { redact } from "./logger.js";

/** Values shorter than this are not treated as secrets (they would redact ordinary words). */
const MIN_SECRET_LENGTH = 6;

/**
 * The secret values this daemon knows: the relay token, and every value the
 * env policy marks secret (`SpawnSpec.secretEnv`). They are replaced with
 * `***` in every log line, control answer and agent report.
 */
export class Secrets implements Iterable<string> {
  private readonly values = new Set<string>();

  constructor(initial: Iterable<string | undefined> = []) {
    for (const value of initial) this.add(value);
  }

  /** Adds a value to redact from now on. */
  add(value: string | undefined): void {
    if (value && value.length >= MIN_SECRET_LENGTH) this.values.add(value);
  }

  [Symbol.iterator](): Iterator<string> {
    return this.values[Symbol.iterator]();
  }

  /** `text` with every known secret replaced by `***`. */
  redact(text: string): string {
    return redact(text, this);
  }

  /** A copy of `value` with every string in it (keys excepted) redacted. */
  redactDeep<T>(value: T): T {
    if (this.values.size === 0) return value;
    return walk(value, (s) => this.redact(s)) as T;
  }
}

function walk(value: unknown, fix: (s: string) => string): unknown {
  if (typeof value === "string") return fix(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, fix));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, fix)]));
  }
  return value;
}
