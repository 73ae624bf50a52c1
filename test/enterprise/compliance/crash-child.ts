// Child process of sink-crash.test.ts: an aggregator with one webhook export sink, in this
// process so the test can SIGKILL it mid-export. argv: <data dir> <receiver url> <signals to ingest>.
// Prints `ready` once started and `ingested` once every signal is durably stored.
import { Aggregator } from '../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { createPortRegistry } from '../../../core/ports.js'
import { silentLogger } from '../../../core/log.js'
import { createComplianceExport } from '../../../enterprise/compliance/index.js'
import { signals } from '../../fixtures/aggregator/signals.js'

const [dir, url, count] = process.argv.slice(2) as [string, string, string]
const ports = createPortRegistry()
ports.compliance = createComplianceExport()
ports.enterprise = true
const config = hangarConfigSchema.parse({
  aggregator: { listen: '127.0.0.1:0', data_dir: dir, export: { sinks: { soc: { format: 'jsonl', transport: { type: 'webhook', url: `${url}/hook`, secret: 'a-webhook-secret-of-some-length' }, batch_max: 100, retry: { initial_ms: 20, max_ms: 200 } } } } },
})
const agg = new Aggregator({ config, log: silentLogger(), ports })
await agg.start()
process.stdout.write('ready\n')
const n = Number(count)
for (let i = 1; i <= n; i += 500) await agg.service.ingest(signals(i, Math.min(n, i + 499) + 1))
process.stdout.write('ingested\n')
setInterval(() => {}, 1 << 30)
