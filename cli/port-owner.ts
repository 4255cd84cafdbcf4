import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { get } from "node:http";

/**
 * What holds a port the relay could not listen on, for the refusal: another
 * Agent Relay relay (it answers `/api/health` with its token refusal; no
 * token is sent, whoever listens), or another program; with its pid and
 * name when this user may see them (Linux `/proc`).
 */
export async function describePortOwner(bind: string, port: number): Promise<string> {
  const host = bind.includes(":") ? `[${bind}]` : bind;
  const address = `${host}:${port}`;
  const owner = listeningProcess(port);
  if (await isRelay(bind === "0.0.0.0" ? "127.0.0.1" : bind === "::" ? "[::1]" : host, port)) {
    const pid = owner ? ` (pid ${owner.pid})` : "";
    return `port ${address} is taken by another agent-relay-orchestrator relay${pid}: one is already running (the CLI talks to it), or choose another --port`;
  }
  const pid = owner ? ` (pid ${owner.pid}${owner.name ? `, ${owner.name}` : ""})` : "";
  return `port ${address} is in use by another program${pid}: stop it, or choose another --port`;
}

/** Asks `/api/health` without a token (whoever listens gets none) and one connection, closed after. */
function isRelay(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: host.replace(/^\[|\]$/g, ""), port, path: "/api/health", agent: false, timeout: 2_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body = (body + chunk).slice(0, 1_000)));
      res.on("end", () => resolve((res.statusCode === 200 && body.includes('"protocolVersion"')) || (res.statusCode === 401 && body.includes("X-Agent-Relay-Token"))));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** The process with a listening TCP socket on `port`, when /proc shows it (our own processes, or all as root). */
function listeningProcess(port: number): { pid: number; name?: string } | undefined {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is the tenth field.
      if (f.length > 9 && f[3] === "0A" && parseInt(f[1]!.split(":")[1] ?? "", 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m && inodes.has(m[1]!)) return { pid: Number(pid), ...nameOf(pid) };
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return undefined;
}

function nameOf(pid: string): { name?: string } {
  try {
    const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim().replace(/[^\x20-\x7e]/g, "?");
    return name ? { name } : {};
  } catch {
    return {};
  }
}
