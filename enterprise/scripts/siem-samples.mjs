// Rewrites the generated "Samples" section of docs/siem.md with the records the real formatters
// produce for one sample signal of each type (test/enterprise/compliance/format/samples.test.ts
// fails when the page is out of date). Run: node --import tsx enterprise/scripts/siem-samples.mjs
import console from 'node:console'
import { readFileSync, writeFileSync } from 'node:fs'
import { URL } from 'node:url'

const page = new URL('../../docs/siem.md', import.meta.url)
const { FORMATTERS } = await import('../compliance/format/index.ts')
const { withSamples } = await import('../compliance/format/samples.ts')
const before = readFileSync(page, 'utf8')
const after = withSamples(before, FORMATTERS)
if (after !== before) writeFileSync(page, after)
console.log(after === before ? 'docs/siem.md: samples up to date' : 'docs/siem.md: samples rewritten')
