import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The real CLIs' tests are `npm run test:real` (vitest.real.config.ts).
    exclude: [...configDefaults.exclude, "test/real/**"],
    // Builds dist/ first when it is older than the sources (the CLI tests run it).
    globalSetup: ["test/support/global-setup.ts"],
    // Generous: integration tests run real processes, and a busy machine slows them; figures belong in bench/.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: integration tests start tmux servers and daemons of their own.
    maxWorkers: 2,
  },
});
