import { resolveConfig } from "../config/load.js";
import type { ResolvedConfig } from "../config/schema.js";

/** Flags every command shares. */
export interface CommonArgs {
  config?: string | undefined;
  relayUrl?: string | undefined;
  id?: string | undefined;
  baseDir?: string | undefined;
  logLevel?: string | undefined;
  token?: string | undefined;
}

/** The config a command runs with: file, env and its own flags. */
export function loadCliConfig(args: CommonArgs): Promise<ResolvedConfig> {
  return resolveConfig(
    {},
    {
      ...(args.config !== undefined ? { configFile: args.config } : {}),
      cli: { relayUrl: args.relayUrl, id: args.id, baseDir: args.baseDir, logLevel: args.logLevel, token: args.token },
    },
  );
}
