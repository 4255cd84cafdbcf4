// @ts-check
/**
 * `npm run mutate`: mutation testing of core/ against the fast unit tests
 * (vitest.unit.config.ts). Reports go to reports/mutation/ (not committed);
 * `npm run mutate:readme` turns the JSON report into a committed summary in
 * bench/results/ and prints the README's table. Not part of `npm test`.
 * @type {import("@stryker-mutator/api/core").PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.unit.config.ts", related: false },
  // Every file of core/ with code in it: types.ts and the index re-exports have nothing to mutate.
  mutate: ["core/**/*.ts", "!core/types.ts", "!core/index.ts"],
  coverageAnalysis: "perTest",
  // Two cores, shared with other work: one runner at a time is steady, if slow.
  concurrency: 1,
  incremental: false,
  // On top of 1.5 × the covering tests' time in the first run: a busy machine is slow, an endless loop is endless.
  timeoutMS: 10_000,
  reporters: ["clear-text", "json", "progress-append-only"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
