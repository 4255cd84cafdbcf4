import { spawn } from "node:child_process";
import { z } from "zod";
import { NOTICE_EVENTS, type Notice, type NoticeEvent } from "./notice.js";

const url = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });
const common = {
  /** Names the target in log lines; default: its type and number (`webhook 1`). */
  name: z.string().min(1).max(64).optional(),
  /** Only these events go to this target; default: all. */
  events: z.array(z.enum(NOTICE_EVENTS)).min(1).optional(),
  /** Per try; default: the section's `timeoutMs`. */
  timeoutMs: z.number().int().min(100).max(600_000).optional(),
};
/** Header values are secrets (they are redacted from every log line). */
const headers = z.record(z.string().regex(/^[A-Za-z0-9-]+$/, "expected a header name"), z.string().regex(/^[\t\x20-\x7e]*$/, "expected printable ASCII")).optional();

/** Where notifications go: a webhook, an ntfy topic, or a command. */
export const targetSchema = z.discriminatedUnion("type", [
  /** A JSON POST of the whole notice. */
  z.object({ type: z.literal("webhook"), url, headers, ...common }).strict(),
  /** An ntfy topic URL (`https://ntfy.sh/<topic>`): the message as the body, with Title, Tags and Priority headers. */
  z.object({ type: z.literal("ntfy"), url, headers, /** An access token, sent as `Authorization: Bearer …`. */ token: z.string().min(1).optional(), ...common }).strict(),
  /** A program (argv, no shell) that reads the notice as JSON on stdin; exit status 0 means sent. */
  z.object({ type: z.literal("command"), command: z.array(z.string().min(1)).min(1), ...common }).strict(),
]);
export type Target = z.infer<typeof targetSchema>;

/** The values of a target that must never be logged. */
export function targetSecrets(target: Target): string[] {
  if (target.type === "command") return [];
  return [target.url, ...Object.values(target.headers ?? {}), ...(target.type === "ntfy" && target.token ? [target.token] : [])];
}

/** Whether a target takes this event. */
export function wants(target: Target, event: NoticeEvent): boolean {
  return !target.events || target.events.includes(event);
}

/** One try at delivering a (redacted) notice to a target. Throws on failure. */
export function deliver(target: Target, notice: Notice, signal: AbortSignal): Promise<void> {
  switch (target.type) {
    case "webhook":
      return post(target.url, JSON.stringify(notice), { ...target.headers, "Content-Type": "application/json" }, signal);
    case "ntfy":
      return post(
        target.url,
        notice.message,
        {
          ...target.headers,
          ...(target.token && { Authorization: `Bearer ${target.token}` }),
          "Content-Type": "text/plain; charset=utf-8",
          Title: ascii(notice.title),
          Tags: NTFY[notice.event].tags,
          Priority: NTFY[notice.event].priority,
        },
        signal,
      );
    case "command":
      return run(target.command, JSON.stringify(notice), signal);
  }
}

/** How ntfy shows each event: its emoji tags and priority (1-5). */
const NTFY: Record<NoticeEvent, { tags: string; priority: string }> = {
  blocked: { tags: "raising_hand", priority: "4" },
  done: { tags: "white_check_mark", priority: "3" },
  exited: { tags: "warning", priority: "3" },
  "crash-looping": { tags: "rotating_light", priority: "4" },
  stuck: { tags: "hourglass", priority: "3" },
};

async function post(to: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  // A redirect is refused: it would send the notice somewhere the config does not name.
  const response = await fetch(to, { method: "POST", body, headers, signal, redirect: "error" });
  await response.body?.cancel().catch(() => {});
  if (!response.ok) throw new Error(`answered HTTP ${response.status}`);
}

/** Runs the command with `input` on stdin; resolves when it exits 0. Its output is ignored; stderr's end is quoted on failure. */
function run(argv: readonly string[], input: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "ignore", "pipe"], env: commandEnv(), signal, killSignal: "SIGKILL" });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-500)));
    child.stdin.on("error", () => {}); // a command that does not read its stdin still counts by its exit status
    child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code, sig) => {
      if (code === 0) return resolve();
      const last = stderr.trim().split("\n").pop();
      reject(new Error(`${argv[0]} exited with ${sig ? `signal ${sig}` : `status ${code}`}${last ? `: ${last}` : ""}`));
    });
  });
}

/** The daemon's environment less its own settings (the relay token among them). */
function commandEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AGENT_RELAY_")));
}

/** Header values must be Latin-1 without control characters: anything else becomes `?`. */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}
