import { defineConfig } from "vitest/config";

/**
 * The fast unit tests alone (test/unit: no tmux, no daemon process, no
 * built dist/): what `npm run mutate` runs against each mutant of core/.
 */
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
