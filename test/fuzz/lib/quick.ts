/**
 * The quick, seeded fuzz profile run by tap (CI): every property of a target with a fixed seed
 * and a bounded number of runs and time. `FUZZ_SEED` and `FUZZ_RUNS` (runs per parser) override
 * the defaults, e.g. to replay a counterexample `npm run fuzz` reported.
 */
import fc from 'fast-check'
import t from 'tap'
import { runsFor, type FuzzTarget } from './fuzz.js'

/** Default seed of the quick profile (fixed: CI runs the same inputs every time). */
export const QUICK_SEED = 20261207
/** Default runs per parser in the quick profile. */
export const QUICK_RUNS = 3000
/** Most time one property may take in the quick profile, ms (it stops early, not failing). */
export const QUICK_TIME_LIMIT_MS = 15_000

/** Registers one tap test per property of `target`. */
export function quickFuzz(target: FuzzTarget): void {
  const seed = Number(process.env.FUZZ_SEED ?? QUICK_SEED)
  const runs = runsFor(target, Number(process.env.FUZZ_RUNS ?? QUICK_RUNS))
  t.before(async () => {
    await target.prepare?.()
  })
  target.properties.forEach((p, i) => {
    t.test(`${target.parser}: ${p.name}`, async (t) => {
      const params = { seed, numRuns: runs[i]!, interruptAfterTimeLimit: QUICK_TIME_LIMIT_MS }
      const prop = p.property()
      const details = await (target.around ? target.around(() => fc.check(prop, params)) : fc.check(prop, params))
      t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
      t.ok(details.numRuns > 0, `${details.numRuns} inputs (seed ${seed})`)
    })
  })
}
