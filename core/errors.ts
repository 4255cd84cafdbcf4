/** Typed errors. Each carries a stable `code` so callers can tell them apart. */

/** A control that cannot be carried out; answered to the sender, never retried. */
export class ControlError extends Error {
  override name = "ControlError";
  /** A failure that may pass (tmux busy, a race): the control is tried again, a few times. */
  readonly retryable: boolean;
  constructor(
    readonly code: "invalid" | "unknown_action" | "not_found" | "provider" | "cwd" | "vetoed" | "failed" | "stuck" | "exited",
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options);
    this.retryable = options?.retryable ?? false;
  }
}

/** Thrown by a `beforeSpawn` tap to refuse a spawn. */
export class SpawnVetoError extends ControlError {
  override name = "SpawnVetoError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("vetoed", message, options);
  }
}

/** Something a plugin threw, stamped with the plugin's and the hook's name. */
export class PluginError extends Error {
  override name = "PluginError";
  constructor(
    readonly plugin: string,
    readonly hook: string,
    cause: unknown,
  ) {
    super(`plugin "${plugin}" failed in ${hook}: ${errorMessage(cause)}`, { cause });
  }
}

/** Invalid or unloadable configuration; the message names the file and the key. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The innermost useful message of an error, for one-line logs and answers. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The error a plugin meant, under any `PluginError` wrapping. */
export function rootCause(err: unknown): unknown {
  let current = err;
  while (current instanceof PluginError) current = current.cause;
  return current;
}

/**
 * The answer for a failed control: a `ControlError`'s own words (a veto also
 * names the plugin that vetoed); anything else with the plugin and hook it
 * came from.
 */
export function failureAnswer(err: unknown): { code: string; error: string; retryable?: boolean } {
  const cause = rootCause(err);
  if (!(cause instanceof ControlError)) return { code: "failed", error: errorMessage(err) };
  if (cause.code !== "vetoed") return { code: cause.code, error: cause.message, ...(cause.retryable ? { retryable: true } : {}) };
  let plugin: string | undefined;
  for (let e: unknown = err; e instanceof PluginError; e = e.cause) plugin = e.plugin;
  return { code: "vetoed", error: plugin ? `vetoed by plugin "${plugin}": ${cause.message}` : cause.message };
}
