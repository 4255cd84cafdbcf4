import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { ControlError } from "./errors.js";
import { UNSAFE_TEXT } from "./text.js";
import { envelopeSchema } from "./controls.js";
import type { ControlPayload } from "./types.js";

/**
 * A zod string of at most `max` characters without control or invisible
 * format characters: for control fields that are echoed or shown (labels,
 * paths, agent names).
 */
export const safeText = (max: number) =>
  z
    .string()
    .max(max, `expected at most ${max} characters`)
    .refine((s) => !UNSAFE_TEXT.test(s), "must not contain control characters or invisible format characters");

/**
 * Checks the envelope of a control payload (`action`, who asked and when),
 * and keeps its other fields as they are: they belong to the plugin that
 * declares the action. Throws `ControlError("invalid")` naming the field.
 */
export function parseControl(raw: unknown): ControlPayload {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ControlError("invalid", "control payload must be an object");
  }
  const result = envelopeSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ControlError("invalid", `invalid control: ${issue.path.join(".") || "payload"}: ${issue.message}`);
  }
  return result.data as ControlPayload;
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
