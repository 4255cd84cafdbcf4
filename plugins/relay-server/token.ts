import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError, ensurePrivateDir } from "../../core/index.js";

/** The shortest relay token accepted: a short one can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** Where the relay keeps its state unless told otherwise: `~/.agent-relay/relay` (HOME honoured). */
export function defaultRelayDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME || homedir(), ".agent-relay", "relay");
}

/** The file that holds the token a relay generated for itself (`token`), or its viewer token (`viewer-token`). */
export function relayTokenFile(dataDir: string, name: "token" | "viewer-token" = "token"): string {
  return join(dataDir, name);
}

/**
 * Makes sure the relay's data dir is the user's own and closed to others
 * (see `ensurePrivateDir`): its owner could read the token and the database,
 * or swap them.
 */
export function secureDataDir(dataDir: string, warn: (text: string) => void = () => undefined): void {
  ensurePrivateDir(dataDir, "relay dataDir", warn);
}

/**
 * The token in `file`, if the file exists: it must be ours and owner-only
 * (group or others could have read or written it otherwise).
 */
export function readRelayToken(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const info = lstatSync(file);
  const uid = process.getuid?.();
  if (!info.isFile() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0) {
    throw new ConfigError(`relay token file ${file} must be a regular file of yours, readable by you only (chmod 600): refusing to use it`);
  }
  const token = readFileSync(file, "utf8").trim();
  if (token.length < MIN_TOKEN_LENGTH) throw new ConfigError(`relay token file ${file}: the token is shorter than ${MIN_TOKEN_LENGTH} characters`);
  return token;
}

/**
 * The relay's own token when none is configured: read from `<dataDir>/token`
 * (the viewer token: `<dataDir>/viewer-token`), or generated (32 random bytes, base64url) and written there owner-only on
 * first start. The data dir is secured first.
 */
export function ensureRelayToken(
  dataDir: string,
  warn?: (text: string) => void,
  name: "token" | "viewer-token" = "token",
): { token: string; file: string; created: boolean } {
  secureDataDir(dataDir, warn);
  const file = relayTokenFile(dataDir, name);
  const existing = readRelayToken(file);
  if (existing) return { token: existing, file, created: false };
  const token = randomBytes(32).toString("base64url");
  // "wx": never through a file or link someone put there in the meantime.
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return { token, file, created: true };
}

/** Refuses a configured token that is too short, naming where it came from. */
export function checkTokenLength(token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`${where}: token: the relay needs a token of ${MIN_TOKEN_LENGTH} characters or more (this one has ${token.length})`);
  }
}
