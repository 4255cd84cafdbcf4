import { ConfigError, errorMessage } from "../errors.js";

/** Prints a fatal error on stderr and returns the exit code: 2 for config errors, 1 otherwise. */
export function reportFatal(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error:\n${err.message}\n`);
    return 2;
  }
  const detail = process.env.DEBUG && err instanceof Error && err.stack ? `\n${err.stack}` : "";
  process.stderr.write(`error: ${errorMessage(err)}${detail}\n`);
  return 1;
}
