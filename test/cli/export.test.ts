// cli/export.ts (`mcp-hangar export test`) without the enterprise modules: a configured sink is
// refused with the license requirement (exit 2), an unknown sink names the configured ones (exit
// 2). The licensed path, which sends the sample, is in test/enterprise/compliance/index.test.ts.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runExportTest } from '../../cli/export.js'
import { createPortRegistry } from '../../core/ports.js'
import { captureLog, tempDir } from '../fixtures/aggregator/signals.js'

t.test('export test: unknown sink and missing license are usage errors with the reason', async (t) => {
  const dir = tempDir(t, 'hangar-cli-export-')
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, 'aggregator:\n  export:\n    sinks:\n      soc:\n        format: jsonl\n        transport: { type: file, path: out.jsonl }\n')
  const lines: string[] = []
  const run = (sink: string) => runExportTest({ configPath: cfg, sink, log: captureLog().log, out: (l) => lines.push(l), ports: createPortRegistry() })
  t.equal(await run('nope'), 2)
  t.match(lines.pop(), /^error: no export sink "nope" in .*hangar\.yaml \(aggregator\.export\.sinks: soc\)/)
  t.equal(await run('soc'), 2)
  t.match(lines.pop(), /^error: SIEM export is an enterprise feature and needs a license \(no license key found, using defaults\)/)
})
