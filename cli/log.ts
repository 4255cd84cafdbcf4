import { createLogger, type Logger } from "../core/logger.js";
import { Secrets } from "../core/secrets.js";
import type { ResolvedConfig } from "../core/config/schema.js";

/** The logger of a command, redacting `secrets` (the relay token is added). Hand the same set to the orchestrator. */
export function loggerFor(config: ResolvedConfig, secrets: Secrets = new Secrets()): Logger {
  secrets.add(config.token);
  return createLogger({ level: config.logLevel, secrets: () => secrets });
}
