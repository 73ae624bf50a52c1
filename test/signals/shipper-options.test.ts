// Options of the shipper (signals/shipper-options.ts, signals/shipper-post.ts signalTarget):
// bad sizes and URLs are RangeErrors.
import t from 'tap'
import { AggregatorShipper } from '../../signals/shipper.js'
import { captureLogger, tempDir } from './helpers.js'

t.test('bad options are RangeErrors', async (t) => {
  const dir = tempDir(t)
  const base = { token: 'x', spoolDir: dir, origin: { provider: 'p', sidecar_id: 's' }, mode: 'block' as const, log: captureLogger().log }
  t.throws(() => new AggregatorShipper({ ...base, url: 'ftp://127.0.0.1:1' }), RangeError)
  t.throws(() => new AggregatorShipper({ ...base, url: 'http://127.0.0.1:1', maxBatchSignals: 0 }), RangeError)
})
