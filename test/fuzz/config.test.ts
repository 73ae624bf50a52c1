// Quick seeded fuzz profile of the config loader (config/load.ts). `npm run fuzz` runs
// 1,000,000 inputs.
import { configTarget } from './props/config.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(configTarget)
