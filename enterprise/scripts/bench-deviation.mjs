// `npm run bench:deviation`: benchmarks/deviation.ts with the enterprise deviation port (code
// outside enterprise/ never imports it, so the entry point lives here; plain .mjs, so the build of
// enterprise/ does not compile the benchmarks). Run: node --import ./benchmarks/register.mjs enterprise/scripts/bench-deviation.mjs
const { deviationBench } = await import('../../benchmarks/deviation.ts')
const { runMain } = await import('../../benchmarks/harness/run.ts')
const { createDeviation } = await import('../behavioral/index.ts')

runMain(() => deviationBench(createDeviation()))
