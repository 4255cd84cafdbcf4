import { z } from "zod";

/** A screen match in a config file: `all` patterns (regex sources) on some line, no `none` pattern on any. */
const screenMatch = z.object({ all: z.array(z.string()), none: z.array(z.string()).optional() }).strict();

/**
 * How a provider's config section may override its screen texts (they move
 * with CLI versions): the shape `withScreenOverrides` takes. For any provider:
 * `screens: screensSchema.optional()` in its options schema.
 */
export const screensSchema = z
  .object({
    ready: screenMatch.optional(),
    working: screenMatch.optional(),
    dialogs: z
      .array(z.object({ id: z.string(), match: screenMatch, choose: z.string().optional(), keys: z.array(z.string()).optional() }).strict())
      .optional(),
    blockers: z.array(z.object({ id: z.string(), match: screenMatch, detail: z.string() }).strict()).optional(),
    /** Live-state rules (see `StateRules`). */
    states: z
      .object({
        working: screenMatch.optional(),
        idle: screenMatch.optional(),
        blocked: z.array(z.object({ id: z.string(), match: screenMatch, question: z.string() }).strict()).optional(),
        debounceMs: z.number().int().min(0).max(10_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
