import { describe, expect, it } from "vitest";
import { createLogger, escapeTerminal, safeJson, sanitizeTyped, Secrets } from "../../core/index.js";

const HOSTILE = "a\u001b]0;pwned\u0007b\rc\u009bd\u202ee\u200bf\u2028g";

describe("text from outside, on its way to a terminal, a log or an agent", () => {
  it("shows control, bidi and invisible characters as escapes on a terminal", () => {
    expect(escapeTerminal(HOSTILE)).toBe("a\\x1b]0;pwned\\x07b\\x0dc\\x9bd\\u202ee\\u200bf\\u2028g");
    expect(escapeTerminal("one\ntwo\tthree\u001b", { keepLines: true })).toBe("one\ntwo\tthree\\x1b");
    expect(escapeTerminal("one\ntwo")).toBe("one\\x0atwo");
  });

  it("prints JSON with C1, bidi and separators escaped too, and still the same value", () => {
    const json = safeJson({ label: HOSTILE });
    expect(json).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e]/);
    expect(JSON.parse(json)).toEqual({ label: HOSTILE });
  });

  it("types text with every control character but newline and tab removed", () => {
    expect(sanitizeTyped("go\r\nnow\x03\x1b[201~\x1b[A\ttab\x7f\u0085")).toBe("go\nnow[201~[A\ttab");
  });

  it("writes one log record as one line, control characters escaped and secrets redacted", () => {
    const lines: string[] = [];
    const secrets = new Secrets(["tok-123456789"]);
    const logger = createLogger({ write: (l) => lines.push(l), secrets: () => secrets });
    logger.warn(`message 1 (spawn\u001b[2J) refused: label "x\ny" token tok-123456789`);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    expect(lines[0]!.slice(0, -1)).not.toMatch(/[\u0000-\u001f]/);
    expect(lines[0]).toContain('spawn\\x1b[2J) refused: label "x\\x0ay" token ***');
  });

  it("redacts every known secret, a longer one whole, deep inside answers", () => {
    const secrets = new Secrets(["abcdef", "abcdefghij", "short", undefined]);
    expect(secrets.redact("x abcdefghij y abcdef z short")).toBe("x *** y *** z short");
    expect(secrets.redactDeep({ ok: false, error: "abcdef", agents: [{ lastLines: ["abcdefghij"] }] })).toEqual({ ok: false, error: "***", agents: [{ lastLines: ["***"] }] });
  });
});
