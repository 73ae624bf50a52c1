#!/usr/bin/env node
// `npm run fuzz`: runs benchmarks/fuzz.ts under the TypeScript loader tap uses (ts-node, transpile
// only), so the fuzzers load every module exactly as the tests do. Arguments are passed through
// (`npm run fuzz -- --runs 100000`); the exit status is the runner's.
import { spawn } from 'node:child_process'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

const runner = fileURLToPath(new URL('../benchmarks/fuzz.ts', import.meta.url))
const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', runner, ...process.argv.slice(2)], {
  stdio: 'inherit',
  // The runner gets this process's environment unchanged, plus the loader's transpile-only switch.
  // eslint-disable-next-line no-restricted-syntax
  env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0)
})
