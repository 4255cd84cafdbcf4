/**
 * Text from outside (the relay, an agent's screen, a config on disk) on its
 * way to a terminal, a log line, or an agent's input: what is refused, what
 * is escaped, what is stripped.
 */

/**
 * Characters no label, path or id may hold: C0 and C1 controls, DEL, and
 * every invisible format character (bidi overrides and isolates, zero-width
 * spaces and joiners, U+061C, U+FEFF, soft hyphen, …), and the line and
 * paragraph separators. Each makes text read differently from what it is.
 */
export const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

const TERMINAL_UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const TERMINAL_UNSAFE_KEEP_LINES = /[^\P{Cc}\n\t]|[\p{Cf}\u2028\u2029]/gu;

/**
 * Makes text safe to print on a terminal: every control character (escape
 * sequences, carriage returns, C1), bidi control and invisible format
 * character is shown as a visible escape (`\x1b`, `\u202e`) instead of
 * acting. With `keepLines`, newline and tab stay as they are.
 */
export function escapeTerminal(text: string, options: { keepLines?: boolean } = {}): string {
  return text.replace(options.keepLines ? TERMINAL_UNSAFE_KEEP_LINES : TERMINAL_UNSAFE, visible);
}

/**
 * JSON for a terminal or a pipe: `JSON.stringify` leaves C1 controls, bidi
 * controls and the line separators raw; here they are `\uXXXX` escapes too,
 * so the output is still valid JSON that means the same.
 */
export function safeJson(value: unknown, indent?: number): string {
  // JSON.stringify escapes C0 inside strings; raw C0 left in its output is its own indentation.
  return JSON.stringify(value, null, indent).replace(JSON_UNSAFE, (ch) => `\\u${hex(ch, 4)}`);
}

const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu;

const TYPED_UNSAFE = /[^\P{Cc}\n\t]/gu;

/**
 * Text to be typed into an agent: every control character but newline and
 * tab is removed (a carriage return would press Enter, ESC could end a
 * bracketed paste early or start a key sequence, Ctrl-C would interrupt);
 * `\r\n` becomes `\n`.
 */
export function sanitizeTyped(text: string): string {
  return text.replace(/\r\n/g, "\n").replace(TYPED_UNSAFE, "");
}

/** Names whose values are secret: `*PASS*`, `*SECRET*`, `*KEY*`, `*TOKEN*`, `*CREDENTIAL*`, `*AUTH*`. */
export function isSecretName(name: string): boolean {
  return /PASS|SECRET|KEY|TOKEN|CREDENTIAL|AUTH/i.test(name);
}

function visible(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code <= 0xff ? `\\x${hex(ch, 2)}` : `\\u${hex(ch, 4)}`;
}

function hex(ch: string, width: number): string {
  return ch.codePointAt(0)!.toString(16).padStart(width, "0");
}
