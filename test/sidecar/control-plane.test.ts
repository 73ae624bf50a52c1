/**
 * sidecar/control-plane.ts: where a sidecar's signals go (by config), what its heartbeats say,
 * and the link that is started only with an aggregator URL.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hangarConfigSchema, providerSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { createMetrics } from '../../core/metrics.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { buildSignal } from '../../signals/build.js'
import { digestOf, mcpHeartbeat, mcpUrlOf, openSignalOutput, startSidecarLink } from '../../sidecar/control-plane.js'

const pins = { echo: `sha256:${'a'.repeat(64)}` }

t.test('mcpHeartbeat: ready, the tools digest, the MCP URL, the first process state, the isolation', async (t) => {
  const hb = mcpHeartbeat({ processes: [{ state: 'READY', breaker: 'closed' }], tools: { pins } }, '0.0.0.0:8101', 8101, 'netns')
  t.same(hb, { state: 'ready', tools_digest: digestOf(pins), mcp_url: 'http://127.0.0.1:8101/mcp', provider_state: 'READY', isolation: 'netns' })
  t.same(mcpHeartbeat({ tools: { pins: {} } }, undefined, 0), { state: 'ready', tools_digest: digestOf({}) }, 'no process, no listen, no isolation: those fields are absent')
})

t.test('mcpHeartbeat: degraded while a process is DEGRADED or DEAD or its breaker is open', async (t) => {
  for (const p of [{ state: 'DEGRADED', breaker: 'closed' }, { state: 'DEAD', breaker: 'closed' }, { state: 'READY', breaker: 'open' }]) {
    t.equal(mcpHeartbeat({ processes: [{ state: 'READY', breaker: 'closed' }, p], tools: { pins } }, undefined, 0).state, 'degraded', JSON.stringify(p))
  }
  t.equal(mcpHeartbeat({ processes: [{ state: 'READY', breaker: 'half-open' }], tools: { pins } }, undefined, 0).state, 'ready', 'control: a half-open breaker is not degraded')
})

t.test('digestOf is sha256 over the JSON text; mcpUrlOf maps wildcards to loopback', async (t) => {
  t.equal(digestOf({ a: 1 }), 'sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862')
  t.not(digestOf({ a: 1 }), digestOf({ a: 2 }))
  t.equal(mcpUrlOf('0.0.0.0:1', 1), 'http://127.0.0.1:1/mcp')
  t.equal(mcpUrlOf('[::]:0', 9), 'http://[::1]:9/mcp')
  t.equal(mcpUrlOf('10.0.0.5:0', 9), 'http://10.0.0.5:9/mcp', 'the bound port replaces 0')
  t.equal(mcpUrlOf(undefined, 9), undefined)
})

t.test('openSignalOutput: JSON lines without an aggregator URL, at --signal-log or <data_dir>/signals.jsonl', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-cp-out-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const provider = providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', sidecar: { data_dir: dir } })
  const config = hangarConfigSchema.parse({})
  const open = (signalLog: string | undefined) => openSignalOutput({ config, providerName: 'p', provider, sidecarId: 'p-1', signalLog, metrics: createMetrics({ processMetrics: false }), log: silentLogger() })
  const def = open(undefined)
  t.equal(def.describe, join(dir, 'signals.jsonl'))
  def.sink.emit(buildSignal({ provider: 'p', sidecar_id: 'p-1' }, { kind: 'lifecycle', type: 'sidecar_started', action: 'allowed', enforcement_mode: 'block', reason: 'x' }))
  await def.sink.close()
  t.match(JSON.parse(readFileSync(join(dir, 'signals.jsonl'), 'utf8').trim()), { type: 'sidecar_started', provider: 'p' }, 'written as one JSON line')
  const explicit = open(join(dir, 'other.jsonl'))
  t.equal(explicit.describe, join(dir, 'other.jsonl'))
  await explicit.sink.close()
})

t.test('openSignalOutput: with an aggregator URL, the shipper, and a --signal-log copy when given', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-cp-out-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const provider = providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp', sidecar: { data_dir: dir } })
  const config = hangarConfigSchema.parse({ aggregator: { url: 'http://127.0.0.1:9' } })
  const open = (signalLog: string | undefined) => openSignalOutput({ config, providerName: 'p', provider, sidecarId: 'p-1', signalLog, metrics: createMetrics({ processMetrics: false }), log: silentLogger() })
  const shipped = open(undefined)
  t.equal(shipped.describe, 'aggregator http://127.0.0.1:9')
  await shipped.sink.close()
  const both = open(join(dir, 'copy.jsonl'))
  t.equal(both.describe, `aggregator http://127.0.0.1:9 and ${join(dir, 'copy.jsonl')}`)
  await both.sink.close()
})

t.test('startSidecarLink: nothing without aggregator.url', async (t) => {
  const link = startSidecarLink({
    config: hangarConfigSchema.parse({ aggregator: { admin_tokens: ['a'] } }), providerName: 'p',
    provider: providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' }), sidecarId: 'p-1',
    enforcement: new QuarantineSwitch(), log: silentLogger(), status: () => ({ state: 'ready' }),
  })
  t.equal(link, undefined)
})
