import { z } from "zod";

/** How a config file may override a provider's screen texts (they move with CLI versions). */
const screenMatch = z.object({ all: z.array(z.string()), none: z.array(z.string()).optional() }).strict();

export const screensSchema = z
  .object({
    ready: screenMatch.optional(),
    working: screenMatch.optional(),
    dialogs: z
      .array(z.object({ id: z.string(), match: screenMatch, choose: z.string().optional(), keys: z.array(z.string()).optional() }).strict())
      .optional(),
    blockers: z.array(z.object({ id: z.string(), match: screenMatch, detail: z.string() }).strict()).optional(),
  })
  .strict();
