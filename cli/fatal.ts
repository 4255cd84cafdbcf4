import { ERROR_KIND, errorMessage, isConfigError, isErrorKind } from "../core/errors.js";
import { redact } from "../core/logger.js";
import { escapeTerminal } from "../core/text.js";

/** A failure the user caused or can act on; printed without a stack. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
Object.defineProperty(CliError.prototype, ERROR_KIND, { value: "CliError" });

/** Whether `err` is a `CliError`, from any copy of the package. */
export const isCliError = (err: unknown): err is CliError => isErrorKind(err, "CliError");

/**
 * Prints a fatal error on stderr (the relay token redacted, should anything
 * have echoed it) and returns the exit code: 2 for config errors, 1 otherwise.
 */
export function reportFatal(err: unknown): number {
  // A message may quote the relay (an error body, a label): shown, never acted on by the terminal.
  const write = (text: string) => process.stderr.write(escapeTerminal(redact(text, [process.env.AGENT_RELAY_TOKEN ?? ""]), { keepLines: true }));
  if (isConfigError(err)) {
    write(`config error:\n${err.message}\n`);
    return 2;
  }
  if (isCliError(err)) {
    write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  const detail = process.env.DEBUG && err instanceof Error && err.stack ? `\n${err.stack}` : "";
  write(`error: ${errorMessage(err)}${detail}\n`);
  return 1;
}
