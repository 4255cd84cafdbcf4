import { z } from "zod";
import { ControlError, failureAnswer } from "./errors.js";
import type { OrchestratorHooks } from "./hooks.js";
import type { Secrets } from "./secrets.js";
import type { ControlPayload, ControlRequest, ControlResult, RelayMessage } from "./types.js";

/**
 * Whom a control is about, for ordering: controls about the same agent run
 * one after another, in the order they came; `"*"` is every agent (after
 * every earlier control, before every later one). A target is an agentId, a
 * session name or a label of a managed agent. For an agent that does not
 * exist yet (a spawn), `agent` is its session name and `aliases` the other
 * names later controls may give it (its label).
 */
export type ControlKey = "*" | string | { agent: string; aliases?: string[] };

/** What a control's `key` function may use besides the control. */
export interface ControlKeyInfo {
  /** When the control was sent (epoch ms, the relay's clock): stable across deliveries. */
  createdAt: number;
}

/**
 * A control action a plugin answers (see `PluginContext.provideControl`).
 * `fields` is the zod shape of its own fields; other plugins may add fields
 * (`extendControl`), which reach the handler in `request.control` too.
 */
export interface ControlDeclaration<F extends z.ZodRawShape = z.ZodRawShape> {
  /** The action name, a safe identifier (`[A-Za-z][A-Za-z0-9_.-]*`). */
  action: string;
  fields: F;
  /** The agent the control is about (see `ControlKey`); `"*"` for every agent. */
  key(control: ControlOf<F>, info: ControlKeyInfo): ControlKey;
  /**
   * The handler may wait long for its agent (a message that waits until the
   * agent is idle): a control for every agent (`"*"`) sent later does not
   * wait for it. It still waits for such controls sent before it, and keeps
   * its own key's order.
   */
  longWait?: boolean;
  /** Answers the control; throw `ControlError` to answer with a specific error. */
  handle(request: ControlRequest & { control: ControlOf<F> }): Promise<ControlResult> | ControlResult;
}

/** Identity helper that types a control declaration (its handler sees its fields typed). */
export function defineControl<F extends z.ZodRawShape>(declaration: ControlDeclaration<F>): ControlDeclaration<F> {
  return declaration;
}

/** A parsed control of a declaration: the envelope, its own fields, and unknown-typed fields of extensions. */
export type ControlOf<F extends z.ZodRawShape> = ControlPayload & z.infer<z.ZodObject<F>>;

/** A message's control, parsed once: the control and the declaration that answers it (none: `onControl` taps may). */
export interface ParsedControl {
  control: ControlPayload;
  declaration?: ControlDeclaration;
}

const ACTION = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** The envelope every control has, whoever answers it: the rest passes through to the declaration. */
export const envelopeSchema = z
  .object({
    /** A safe identifier: it is echoed in answers and log lines. */
    action: z.string().regex(ACTION, "expected an action name (letters, digits, '_', '.', '-')"),
    requestedBy: z.string().max(256).optional(),
    requestedAt: z.number().optional(),
  })
  .passthrough();

/** The declared control actions, their fields (with extensions), ordering keys and handlers. */
export class ControlRegistry {
  private readonly declared = new Map<string, { owner: string; declaration: ControlDeclaration; schema?: z.ZodTypeAny }>();
  private readonly extensions = new Map<string, { owner: string; fields: z.ZodRawShape }[]>();

  declare(owner: string, declaration: ControlDeclaration): void {
    if (!ACTION.test(declaration.action)) throw new Error(`"${declaration.action}" is not a valid control action name`);
    const known = this.declared.get(declaration.action);
    if (known) throw new Error(`control "${declaration.action}" is declared already by plugin "${known.owner}"`);
    this.declared.set(declaration.action, { owner, declaration });
  }

  /** The plugin that declared `action`, if any plugin did. */
  ownerOf(action: string): string | undefined {
    return this.declared.get(action)?.owner;
  }

  /** Adds fields (owned by `owner`) to another plugin's control; they reach its handler and whatever it passes them to. */
  extend(owner: string, action: string, fields: z.ZodRawShape): void {
    const list = this.extensions.get(action) ?? [];
    for (const name of Object.keys(fields)) {
      const other = list.find((e) => name in e.fields);
      if (other) throw new Error(`field "${name}" of control "${action}" is added already by plugin "${other.owner}"`);
    }
    list.push({ owner, fields });
    this.extensions.set(action, list);
    const entry = this.declared.get(action);
    if (entry) entry.schema = undefined;
  }

  /** The names of a control's fields added by other plugins (the declaring plugin passes them on untouched). */
  extensionFields(action: string): string[] {
    return (this.extensions.get(action) ?? []).flatMap((e) => Object.keys(e.fields));
  }

  /**
   * The control of a message (`payload.orchestratorControl`, or
   * `meta.orchestratorControl` from older senders), validated against its
   * declaration; undefined for a message without one. Throws
   * `ControlError("invalid")` naming the field.
   */
  parseMessage(message: RelayMessage): ParsedControl | undefined {
    const raw = message.payload?.orchestratorControl ?? message.meta?.orchestratorControl;
    if (raw === undefined || raw === null) return undefined;
    return this.parse(raw);
  }

  /** Validates a control: the envelope, then the declared fields of its action (an undeclared action keeps the rest as is). */
  parse(raw: unknown): ParsedControl {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new ControlError("invalid", "control payload must be an object");
    }
    const envelope = check(envelopeSchema, raw) as ControlPayload;
    const entry = this.declared.get(envelope.action);
    if (!entry) return { control: envelope };
    // Fields nobody declared are dropped (as the protocol allows senders to add their own).
    entry.schema ??= envelopeSchema
      .extend(entry.declaration.fields)
      .extend(Object.assign({}, ...(this.extensions.get(envelope.action) ?? []).map((e) => e.fields)))
      .strip();
    return { control: check(entry.schema, raw) as ControlPayload, declaration: entry.declaration };
  }

  /** The key a parsed control is ordered by. */
  keyOf(parsed: ParsedControl, info: ControlKeyInfo): ControlKey {
    return parsed.declaration ? parsed.declaration.key(parsed.control, info) : "*";
  }

  /**
   * Answers one control: its declaration's handler, else the first
   * `onControl` tap that answers, else `unknown_action`. Anything thrown
   * becomes an error answer; secrets are redacted. Never throws.
   */
  async dispatch(
    hooks: Pick<OrchestratorHooks, "onControl">,
    secrets: Secrets,
    parsed: ParsedControl,
    context: Omit<ControlRequest, "control"> = {},
  ): Promise<ControlResult> {
    const { control, declaration } = parsed;
    let result: ControlResult;
    try {
      const request = { ...context, control };
      result = (declaration ? await declaration.handle(request) : await hooks.onControl.promise(request)) ?? {
        ok: false,
        action: control.action,
        code: "unknown_action",
        error: `unknown action "${control.action}"`,
      };
    } catch (err) {
      result = { ok: false, action: control.action, ...failureAnswer(err) };
    }
    // An error may quote a command line, an env value or an agent's screen.
    return secrets.redactDeep(result);
  }
}

function check(schema: z.ZodTypeAny, raw: unknown): unknown {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ControlError("invalid", `invalid control: ${issue.path.join(".") || "payload"}: ${issue.message}`);
}
