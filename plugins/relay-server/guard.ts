import type { IncomingMessage } from "node:http";

/** What the relay answers to a request it will not look at further. */
export interface Refusal {
  status: 403 | 415;
  error: string;
}

/** The addresses a relay serves: its port, the address it is bound to, and names configured for it. */
export interface Served {
  port: number;
  bind: string;
  /** Further `Host` values to accept: `name` (any port) or `name:port`, e.g. the name a TLS proxy forwards. */
  allowedHosts?: readonly string[];
}

/**
 * Refuses what a web browser can be made to send, whatever the token:
 * a body that is not JSON (a cross-site form or `text/plain` fetch needs no
 * CORS preflight), an `Origin` other than the relay's own (a page on another
 * site), and a `Host` that is not an address the relay serves (a DNS-rebinding
 * page, whose own name is in `Host`). Undefined when none applies.
 */
export function browserRefusal(req: IncomingMessage, served: Served): Refusal | undefined {
  const host = req.headers.host;
  if (!host || !hostAllowed(host, req, served)) {
    return { status: 403, error: `Host ${JSON.stringify(host ?? "")} is not an address this relay serves (relayServer.allowedHosts lists more)` };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, host)) {
    return { status: 403, error: `requests from ${JSON.stringify(origin)} are not accepted (cross-origin)` };
  }
  const method = req.method ?? "GET";
  if ((method === "POST" || method === "PATCH" || method === "PUT") && hasBody(req) && !isJson(req.headers["content-type"])) {
    return { status: 415, error: `a request body must be sent as Content-Type: application/json` };
  }
  return undefined;
}

function hostAllowed(header: string, req: IncomingMessage, served: Served): boolean {
  const parsed = splitHost(header);
  if (!parsed) return false;
  const { name, port } = parsed;
  const allowed = (served.allowedHosts ?? []).map((h) => h.toLowerCase());
  if (allowed.includes(name) || allowed.includes(`${name}:${port}`) || allowed.includes(header.toLowerCase())) return true;
  if (port !== served.port) return false;
  if (isLoopbackName(name)) return true;
  if (name === unbracket(served.bind.toLowerCase())) return true;
  // An IP literal of the interface the request came in on (a bind to 0.0.0.0 or ::):
  // a rebinding page always has its own name in Host, never an address.
  const local = (req.socket.localAddress ?? "").replace(/^::ffff:/, "");
  return isIpLiteral(name) && name === local.toLowerCase();
}

/** `name` (lower case, no brackets) and port (80 when absent) of a Host header; undefined when malformed. */
function splitHost(header: string): { name: string; port: number } | undefined {
  const m = header.toLowerCase().match(/^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/);
  if (!m) return undefined;
  return { name: unbracket(m[1]!), port: m[2] ? Number(m[2]) : 80 };
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && origin === url.origin && url.host === new URL(`${url.protocol}//${host}`).host;
  } catch {
    return false; // "null" and anything else that is not a URL
  }
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase() === "application/json";
}

function isLoopbackName(name: string): boolean {
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

function unbracket(name: string): string {
  return name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
}
