// The stand-in receivers of the export tests (test/helpers/export-receivers.ts) checked against
// the official clients, so that they answer as Splunk's HTTP Event Collector and Elasticsearch's
// _bulk API do: splunk-logging (Splunk's Node.js logging library) and @elastic/elasticsearch
// (Elastic's Node.js client, which refuses a server that does not identify as Elasticsearch).
// Controls: a wrong token is an error the client reports, and a document created twice is a 409
// item the client hands back, as with the real servers.
import { createRequire } from 'node:module'
import t from 'tap'
import { Client } from '@elastic/elasticsearch'
import { bulkReceiver, hecReceiver } from './export-receivers.js'

const require = createRequire(import.meta.url)
interface SplunkLogger {
  send(payload: { message: unknown; metadata?: Record<string, unknown>; severity?: string }, cb: (err: Error | null, resp: { statusCode?: number } | undefined, body: unknown) => void): void
  requestOptions: { strictSSL?: boolean; timeout?: number }
}
const { Logger } = require('splunk-logging') as { Logger: new (config: Record<string, unknown>) => SplunkLogger }

const TOKEN = '11111111-2222-3333-4444-555555555555'

function splunkSend(logger: SplunkLogger, message: unknown): Promise<{ err: Error | null; status: number | undefined; body: unknown }> {
  return new Promise((resolve) => logger.send({ message, metadata: { source: 'mcp-hangar-test', sourcetype: 'mcp-hangar:test' } }, (err, resp, body) => resolve({ err, status: resp?.statusCode, body })))
}

t.test('splunk-logging: events reach the HEC receiver with the token; a wrong token is the error Splunk gives', async (t) => {
  const hec = await hecReceiver(TOKEN)
  t.teardown(() => hec.close())
  const logger = new Logger({ token: TOKEN, url: hec.url, maxBatchCount: 1 })
  const ok = await splunkSend(logger, { signal: 'egress_denied', id: 'one' })
  t.equal(ok.err, null, `no error: ${String(ok.err)}`)
  t.equal(ok.status, 200)
  t.match(ok.body, { text: 'Success', code: 0 }, "Splunk's success body")
  t.match(hec.records, [{ event: { message: { signal: 'egress_denied', id: 'one' } }, source: 'mcp-hangar-test', sourcetype: 'mcp-hangar:test' }], 'the event as the client sent it')
  const bad = new Logger({ token: 'wrong-token', url: hec.url, maxBatchCount: 1 })
  const refused = await splunkSend(bad, { signal: 'x' })
  t.equal(refused.status, 403, 'a wrong token: 403')
  t.match(refused.body, { text: 'Invalid token', code: 4 }, "Splunk's body for it")
})

t.test('@elastic/elasticsearch: info and bulk against the _bulk receiver; a second create of an id is a 409 item', async (t) => {
  const es = await bulkReceiver()
  t.teardown(() => es.close())
  const client = new Client({ node: es.url })
  t.teardown(() => client.close())
  const info = await client.info()
  t.equal(info.version.number, '8.15.0', 'the client accepts the receiver as Elasticsearch (product check)')
  const r = await client.bulk({ operations: [{ create: { _index: 'mcp-hangar-signals', _id: 'sig-1' } }, { type: 'egress_denied' }, { create: { _index: 'mcp-hangar-signals', _id: 'sig-2' } }, { type: 'dns_denied' }] })
  t.equal(r.errors, false)
  t.same(r.items.map((i) => [i.create?._id, i.create?.status]), [['sig-1', 201], ['sig-2', 201]])
  t.same(es.ids, ['sig-1', 'sig-2'])
  const again = await client.bulk({ operations: [{ create: { _index: 'mcp-hangar-signals', _id: 'sig-1' } }, { type: 'egress_denied' }] })
  t.equal(again.errors, true)
  t.equal(again.items[0]!.create!.status, 409)
  t.equal(again.items[0]!.create!.error!.type, 'version_conflict_engine_exception', 'the conflict as Elasticsearch reports it')
  t.same(es.ids, ['sig-1', 'sig-2'], 'stored once')
})
