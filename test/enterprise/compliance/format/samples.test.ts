/**
 * The sample signals (one per catalogue type, valid) and docs/siem.md: its generated "Samples"
 * section is what the real formatters write today, and every signal type has a sample there.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { FORMATTERS, jsonl } from '../../../../enterprise/compliance/format/index.js'
import { SAMPLES_BEGIN, SAMPLES_END, SAMPLE_OPTIONS, renderSamples, sampleSignals, withSamples } from '../../../../enterprise/compliance/format/samples.js'
import { SIGNAL_TYPES } from '../../../../signals/types.js'
import { validateSignal } from '../../../../signals/validate.js'

const page = new URL('../../../../docs/siem.md', import.meta.url)

t.test('one valid sample per catalogue type, with distinct ids and a stable shape', async (t) => {
  const samples = sampleSignals()
  t.same(samples.map((s) => s.type), Object.keys(SIGNAL_TYPES))
  t.equal(new Set(samples.map((s) => s.id)).size, samples.length)
  for (const s of samples) {
    t.ok(validateSignal(s).ok, `${s.type} validates`)
    t.equal(s.severity, SIGNAL_TYPES[s.type as keyof typeof SIGNAL_TYPES].severity, `${s.type}: the catalogue severity`)
  }
  t.same(sampleSignals(), samples, 'the same every call')
})

t.test('docs/siem.md holds the samples the formatters write now (run enterprise/scripts/siem-samples.mjs after a change)', async (t) => {
  const doc = readFileSync(page, 'utf8')
  t.equal(withSamples(doc, FORMATTERS), doc)
  for (const type of Object.keys(SIGNAL_TYPES)) t.match(doc, `\n### \`${type}\`\n`, `${type} has a sample`)
  for (const f of ['jsonl', 'cef', 'leef', 'syslog', 'ocsf']) t.ok(doc.includes(`\`${f}\`:\n\n\`\`\``), `${f} samples`)
  const section = doc.slice(doc.indexOf(SAMPLES_BEGIN), doc.indexOf(SAMPLES_END))
  for (const s of sampleSignals()) t.ok(section.includes(FORMATTERS.cef!(s, SAMPLE_OPTIONS)), `${s.type}: the CEF record verbatim`)
})

t.test('control: a formatter change makes the page out of date, and the check says so', async (t) => {
  const doc = readFileSync(page, 'utf8')
  const changed = { ...FORMATTERS, cef: (s: Parameters<typeof jsonl>[0]) => `CEF:0|changed|${s.id}` }
  t.not(withSamples(doc, changed), doc)
  t.equal(renderSamples(changed).split('CEF:0|changed|').length - 1, sampleSignals().length)
  t.throws(() => withSamples('# no markers\n', FORMATTERS), /has no .*samples/)
})
