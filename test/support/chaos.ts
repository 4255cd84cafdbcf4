/**
 * Randomness for chaos tests that can be replayed: the seed comes from
 * `CHAOS_SEED` when set, else from the clock, and is printed, so a failure
 * seen once runs again the same way (`CHAOS_SEED=<seed> npx vitest run <file>`).
 */
export function chaosRandom(name: string, fixed?: number): () => number {
  const fromEnv = Number(process.env.CHAOS_SEED);
  let seed = Number.isSafeInteger(fromEnv) && process.env.CHAOS_SEED ? fromEnv : (fixed ?? Date.now() % 2 ** 31);
  process.stderr.write(`chaos: ${name}: seed ${seed} (replay with CHAOS_SEED=${seed})\n`);
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}
