/** Claude Code's hook events the daemon reads (AGENT-CLIS.md, "Hooks"). */
const HOOK_EVENTS = ["UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest", "Notification", "Stop", "SessionEnd"];

/** A constant for `sh -c`, single-quoted. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `hooks` part of claude's settings: every event runs the core's event
 * command (claude runs hooks through the shell, the event's JSON on stdin),
 * made of quoted constant paths only, never data.
 */
export function claudeHookSettings(argv: readonly string[]): { hooks: Record<string, unknown[]> } {
  const command = argv.map(shellQuote).join(" ");
  const entry = [{ matcher: "", hooks: [{ type: "command", command, timeout: 10 }] }];
  return { hooks: Object.fromEntries(HOOK_EVENTS.map((name) => [name, entry])) };
}
