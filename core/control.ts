import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { ControlError } from "./errors.js";
import { UNSAFE_TEXT } from "./text.js";
import type { ControlPayload, RelayMessage } from "./types.js";

const text = (max: number) =>
  z
    .string()
    .max(max, `expected at most ${max} characters`)
    .refine((s) => !UNSAFE_TEXT.test(s), "must not contain control characters or invisible format characters");

/** The control payload schema; everything from the relay passes it first. */
export const controlSchema = z.object({
  /** A safe identifier: it is echoed in answers and log lines. */
  action: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, "expected an action name (letters, digits, '_', '.', '-')"),
  provider: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "expected a provider name").optional(),
  cwd: text(4096).optional(),
  label: text(200).min(1).optional(),
  approvalMode: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "expected a short mode name").optional(),
  prompt: z.string().max(100_000, "expected at most 100000 characters").optional(),
  agentId: text(256).min(1).optional(),
  requestedBy: z.string().max(256).optional(),
  requestedAt: z.number().optional(),
  replace: z.boolean().optional(),
  restartPolicy: z.enum(["never", "on-failure", "always"]).optional(),
  /** spawn: extra environment; the env policy accepts only names on its `fromControl` list. */
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "expected environment variable names"), z.string().max(32_768, "expected values of at most 32768 characters"))
    .refine((env) => Object.keys(env).length <= 64, "expected at most 64 variables")
    .optional(),
});

/**
 * The control payload of a message (`payload.orchestratorControl`, or
 * `meta.orchestratorControl` from older senders), validated. Returns
 * `undefined` for a message that carries no control at all.
 */
export function extractControl(message: RelayMessage): ControlPayload | undefined {
  const raw = message.payload?.orchestratorControl ?? message.meta?.orchestratorControl;
  if (raw === undefined || raw === null) return undefined;
  return parseControl(raw);
}

/** The provider a spawn gets when it names none (PROTOCOL.md). */
export const DEFAULT_PROVIDER = "claude";

/**
 * The label of a spawn control: its own, else `<provider>-<requestedAt or
 * sent time>` (the protocol's form), which is the same each time the message
 * is delivered. Undefined when the control carries neither time.
 */
export function spawnLabel(control: ControlPayload, sentAt?: number): string | undefined {
  if (control.label !== undefined) return control.label;
  const stamp = control.requestedAt ?? sentAt;
  return stamp !== undefined ? `${control.provider ?? DEFAULT_PROVIDER}-${stamp}` : undefined;
}

/** Validates a control payload; throws `ControlError("invalid")` naming the field. */
export function parseControl(raw: unknown): ControlPayload {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ControlError("invalid", "control payload must be an object");
  }
  const result = controlSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ControlError("invalid", `invalid control: ${issue.path.join(".") || "payload"}: ${issue.message}`);
  }
  return result.data;
}

/**
 * `<prefix>-<provider>-<label>`, the label's runs of other characters as "-",
 * lower-cased (as 0.9.0). tmux itself turns "." into "_" in session names, so
 * the name is given here as tmux stores it: the name 0.9.0's sessions really have.
 */
export function sessionNameFor(prefix: string, provider: string, label: string): string {
  const clean = label.replace(/[^a-zA-Z0-9._-]+/g, "-").toLowerCase();
  return `${prefix}-${provider}-${clean}`.replace(/\./g, "_");
}

/**
 * Resolves a requested working directory against `baseDir`. The answer's
 * `cwd` is the request made absolute (what is reported); `realCwd` has every
 * symlink and `..` resolved and is checked to lie inside `baseDir`'s own real path.
 */
export async function resolveCwd(baseDir: string, requested?: string): Promise<{ cwd: string; realCwd: string }> {
  let baseReal: string;
  try {
    baseReal = await realpath(baseDir);
  } catch {
    throw new ControlError("cwd", `baseDir ${baseDir} does not exist on this host`);
  }
  const cwd = requested ? resolve(baseDir, requested) : resolve(baseDir);
  let realCwd: string;
  try {
    realCwd = await realpath(cwd);
  } catch {
    throw new ControlError("cwd", `cwd ${cwd} does not exist`);
  }
  const rel = relative(baseReal, realCwd);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new ControlError("cwd", `cwd ${cwd} is outside baseDir ${baseDir}`);
  }
  if (!(await stat(realCwd)).isDirectory()) {
    throw new ControlError("cwd", `cwd ${cwd} is not a directory`);
  }
  return { cwd, realCwd };
}
