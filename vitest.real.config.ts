import { defineConfig } from "vitest/config";

/**
 * `npm run test:real`: the end-to-end tests with the real claude and codex
 * (test/real), offline against a fake API on loopback. Installed by
 * .ci/install-real-clis; without them the tests are skipped, each by name.
 */
export default defineConfig({
  test: {
    include: ["test/real/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // Real CLIs start in seconds, not milliseconds, and a busy machine slows them further.
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One at a time: each real CLI is a heavy process, and the machine has two cores.
    maxWorkers: 1,
  },
});
