import { ConfigError, errorMessage } from "../errors.js";

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

/** Prints a fatal error on stderr and returns the exit code: 2 for config errors, 1 otherwise. */
export function reportFatal(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error:\n${err.message}\n`);
    return 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  const detail = process.env.DEBUG && err instanceof Error && err.stack ? `\n${err.stack}` : "";
  process.stderr.write(`error: ${errorMessage(err)}${detail}\n`);
  return 1;
}
