// Lets plain Node 20 run the TypeScript benchmarks: `node --import ./benchmarks/register.mjs benchmarks/egress.ts`
// (package.json "bench:egress"). tsx compiles .ts on load; nothing is written to disk.
import { register } from 'tsx/esm/api'

register()
