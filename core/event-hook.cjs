#!/usr/bin/env node
// Appends one event an agent reports about itself to its event file, as one JSON line:
//   node event-hook.cjs <file>          the event as JSON on stdin (Claude Code's hooks)
//   node event-hook.cjs <file> <json>   the event as the last argument (codex's `notify`)
// Only the fields the daemon reads are kept, each cut to 200 characters: never the whole
// payload (tool input, transcripts). It never fails the agent: any problem ends it quietly.
// Plain CommonJS on purpose: it runs from the sources and from dist, with nothing to load.
"use strict";
const fs = require("node:fs");

const MAX_INPUT = 1024 * 1024;
const MAX_FIELD = 200;
const file = process.argv[2];

function text(value) {
  return typeof value === "string" ? value.slice(0, MAX_FIELD) : undefined;
}

function append(raw) {
  let input;
  try {
    input = JSON.parse(raw);
  } catch {
    return;
  }
  if (!input || typeof input !== "object" || !file) return;
  const line = {
    event: text(input.hook_event_name) ?? text(input.type),
    at: Date.now(),
    prompt: text(input.prompt),
    tool: text(input.tool_name),
    message: text(input.message),
    type: text(input.notification_type),
  };
  try {
    fs.appendFileSync(file, JSON.stringify(line) + "\n", { mode: 0o600 });
  } catch {
    // The daemon notices the state on the screen instead.
  }
}

if (process.argv.length > 3) {
  append(process.argv[process.argv.length - 1]);
} else {
  let raw = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    raw += chunk;
    if (raw.length > MAX_INPUT) process.exit(0);
  });
  process.stdin.on("end", () => append(raw));
  process.stdin.on("error", () => process.exit(0));
}
