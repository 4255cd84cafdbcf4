import { z } from "zod";

/** Orchestrator ids and agent names: a safe, bounded identifier. */
export const SAFE_ID = /^[A-Za-z0-9._:@-]{1,200}$/;

export const registrationSchema = z.looseObject({ id: z.string().regex(SAFE_ID, "expected an orchestrator id") });

export const messageSchema = z.object({
  to: z.string().regex(SAFE_ID, "expected an agent name"),
  from: z.string().max(200).optional(),
  kind: z.string().min(1).max(64).default("message"),
  body: z.string().max(1_000_000).default(""),
  payload: z.record(z.string(), z.unknown()).default({}),
  meta: z.record(z.string(), z.unknown()).default({}),
});

export const agentSchema = z.looseObject({ id: z.string().regex(SAFE_ID).optional(), label: z.string().max(200).optional() });

/** How many bytes (as JSON) the fields a report carries beyond `AgentReport`'s may take, per agent. */
export const MAX_REPORT_EXTRAS_BYTES = 16 * 1024;

const text = (max: number) => z.string().max(max, `expected at most ${max} characters`);
const number = z.number().finite();

/**
 * One agent of `PATCH /orchestrators/:id/agents`: the fields of `AgentReport`
 * (core/types.ts) typed and bounded. Fields it does not know pass (a newer
 * daemon may add some), within `MAX_REPORT_EXTRAS_BYTES`. Optional fields may
 * be null: 0.9.0 sends a pid it could not read as `null`.
 */
const reportFields = {
  agentId: text(200),
  provider: text(100),
  tmuxSession: text(200),
  cwd: text(4096),
  label: text(200).nullish(),
  approvalMode: text(100),
  pid: number.nullish(),
  startedAt: number,
  status: text(32).nullish(),
  exitCode: number.nullish(),
  readyAt: number.nullish(),
  timeToReadyMs: number.nullish(),
  detail: text(8192).nullish(),
  lastLines: z.array(text(4096)).max(500).nullish(),
  restarts: number.nullish(),
  state: text(32).nullish(),
  stateSince: number.nullish(),
  question: text(1000).nullish(),
  options: z.array(text(200)).max(50).nullish(),
};

const agentReportSchema = z.looseObject(reportFields).superRefine((report, ctx) => {
  const extras = Object.fromEntries(Object.entries(report).filter(([key]) => !(key in reportFields)));
  if (JSON.stringify(extras).length > MAX_REPORT_EXTRAS_BYTES) {
    ctx.addIssue({ code: "custom", message: `fields beyond the report's own take over ${MAX_REPORT_EXTRAS_BYTES} bytes` });
  }
});

export const reportSchema = z.object({ agents: z.array(agentReportSchema).max(5000) });
