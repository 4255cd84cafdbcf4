import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { formatWithOptions } from "node:util";
import { escapeTerminal } from "./text.js";

export type Logger = ConsolaInstance;

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug" | "trace";

const LEVELS: Record<LogLevelName, number> = {
  silent: -999,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
  trace: 5,
};

export interface LoggerOptions {
  level?: LogLevelName;
  /** Where log lines go; stderr unless a test hands in its own sink. */
  write?: (line: string) => void;
  /** Values that must never be printed; each is replaced with `***`. */
  secrets?: () => Iterable<string>;
}

/**
 * The one logger of a daemon. Lines go to stderr (stdout is for data), one
 * per record, with the plugin's tag. Every line passes through `redact`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const secrets = options.secrets ?? (() => []);
  return createConsola({
    level: LEVELS[options.level ?? "info"],
    reporters: [
      {
        log(record: LogObject) {
          const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...record.args);
          const tag = record.tag ? ` [${record.tag}]` : "";
          const line = `${record.date.toISOString()} ${record.type.toUpperCase()}${tag} ${text}`;
          // One record, one line: control characters from a message or a screen are shown, not acted on.
          write(escapeTerminal(redact(line, secrets())) + "\n");
        },
      },
    ],
  });
}

/** Replaces every occurrence of each secret (4 characters or more) in `text`, longest first. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join("***");
  }
  return out;
}
