/**
 * Typed errors. Each carries a stable `code` so callers can tell them apart,
 * and a brand (`Symbol.for`) that the `is…Error` helpers check: a config file
 * or plugin may load a second copy of this package, whose classes fail
 * `instanceof` against ours.
 */

/** The property that names an error's kind, the same in every copy of the package. */
export const ERROR_KIND = Symbol.for("agent-relay-orchestrator.error-kind");

/** Whether `err` is an error of `kind` (its class name), from any copy of the package. */
export function isErrorKind(err: unknown, kind: string): boolean {
  for (let proto = err; proto !== null && typeof proto === "object"; proto = Object.getPrototypeOf(proto)) {
    if (Object.hasOwn(proto, ERROR_KIND) && (proto as Record<symbol, unknown>)[ERROR_KIND] === kind) return true;
  }
  return false;
}

/** Marks a class's instances as of `kind` (subclasses keep their parents' kinds too). */
function brand(cls: { prototype: object }, kind: string): void {
  Object.defineProperty(cls.prototype, ERROR_KIND, { value: kind });
}

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

brand(ControlError, "ControlError");

/** Thrown by a `beforeSpawn` tap to refuse a spawn. */
export class SpawnVetoError extends ControlError {
  override name = "SpawnVetoError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("vetoed", message, options);
  }
}

brand(SpawnVetoError, "SpawnVetoError");

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

brand(PluginError, "PluginError");

/** Invalid or unloadable configuration; the message names the file and the key. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
brand(ConfigError, "ConfigError");

export const isControlError = (err: unknown): err is ControlError => isErrorKind(err, "ControlError");
export const isPluginError = (err: unknown): err is PluginError => isErrorKind(err, "PluginError");
export const isConfigError = (err: unknown): err is ConfigError => isErrorKind(err, "ConfigError");

/** The innermost useful message of an error, for one-line logs and answers. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The error a plugin meant, under any `PluginError` wrapping. */
export function rootCause(err: unknown): unknown {
  let current = err;
  while (isPluginError(current)) current = current.cause;
  return current;
}

/**
 * The answer for a failed control: a `ControlError`'s own words (a veto also
 * names the plugin that vetoed); anything else with the plugin and hook it
 * came from.
 */
export function failureAnswer(err: unknown): { code: string; error: string; retryable?: boolean } {
  const cause = rootCause(err);
  if (!isControlError(cause)) return { code: "failed", error: errorMessage(err) };
  if (cause.code !== "vetoed") return { code: cause.code, error: cause.message, ...(cause.retryable ? { retryable: true } : {}) };
  let plugin: string | undefined;
  for (let e: unknown = err; isPluginError(e); e = e.cause) plugin = e.plugin;
  return { code: "vetoed", error: plugin ? `vetoed by plugin "${plugin}": ${cause.message}` : cause.message };
}
