/**
 * Token classes of the aggregator (aggregator/http/server.ts): every endpoint against every token
 * class. Signal tokens open ingest, heartbeats and policy polls only; admin tokens open queries,
 * control and /mcp only; mcp_tokens open /mcp only. An admin token cannot forge audit records,
 * a signal token cannot read the audit trail or lift a quarantine. A token listed in two classes
 * is a config error naming its path.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { captureLog, signals, tempDir } from '../../fixtures/aggregator/signals.js'

const TOKENS = { none: undefined, signal: 'sig-class-1', admin: 'adm-class-1', mcp: 'mcp-class-1' } as const
type TokenClass = keyof typeof TOKENS

interface Endpoint {
  method: 'GET' | 'POST'
  path: string
  body?: unknown
  headers?: Record<string, string>
  /** The token classes that may call it. */
  allowed: TokenClass[]
}

const HEARTBEAT = { provider: 'fetch', sidecar_id: 'sc-1', version: '0.1.0', state: 'ready' }
const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: '/v1/signals', body: { signals: signals(1, 2) }, allowed: ['signal'] },
  { method: 'POST', path: '/v1/sidecars/heartbeat', body: HEARTBEAT, allowed: ['signal'] },
  { method: 'GET', path: '/v1/policy/fetch?version=0&wait=0', allowed: ['signal'] },
  { method: 'GET', path: '/v1/signals', allowed: ['admin'] },
  { method: 'GET', path: '/v1/signals/stream', allowed: ['admin'] },
  { method: 'GET', path: '/v1/providers', allowed: ['admin'] },
  { method: 'GET', path: '/v1/providers/fetch', allowed: ['admin'] },
  { method: 'GET', path: '/v1/providers/fetch/baseline', allowed: ['admin'] },
  { method: 'POST', path: '/v1/providers/fetch/quarantine', body: { reason: 'token test' }, allowed: ['admin'] },
  { method: 'POST', path: '/v1/providers/fetch/approve', body: { reason: 'token test' }, allowed: ['admin'] },
  {
    method: 'POST', path: '/mcp', headers: { accept: 'application/json, text/event-stream' },
    body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
    allowed: ['admin', 'mcp'],
  },
]

async function start(t: { teardown(fn: () => Promise<void>): void }, dir: string) {
  const config = hangarConfigSchema.parse({
    aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [TOKENS.signal], admin_tokens: [TOKENS.admin], mcp_tokens: [TOKENS.mcp] },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const agg = new Aggregator({ config, log: captureLog().log })
  const port = await agg.start()
  t.teardown(() => agg.stop())
  return `http://127.0.0.1:${port}`
}

async function call(base: string, e: Endpoint, token: string | undefined): Promise<number> {
  const res = await request(base + e.path, {
    method: e.method,
    headers: { ...(e.body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }), ...e.headers },
    ...(e.body !== undefined && { body: JSON.stringify(e.body) }),
  })
  const status = res.statusCode
  // The stream stays open: take the status and hang up.
  if (e.path.endsWith('/stream') && status === 200) res.body.destroy()
  else await res.body.text()
  return status
}

const auditText = (dir: string) => readFileSync(join(dir, 'audit', 'audit.jsonl'), 'utf8')

t.test('every endpoint × every token class: only its own class gets in', async (t) => {
  const dir = tempDir(t, 'hangar-tokens-')
  const base = await start(t, dir)
  for (const e of ENDPOINTS) {
    for (const cls of Object.keys(TOKENS) as TokenClass[]) {
      const status = await call(base, e, TOKENS[cls])
      if (e.allowed.includes(cls)) t.ok(status !== 401 && status < 500, `${e.method} ${e.path} with a ${cls} token → ${status}`)
      else t.equal(status, 401, `${e.method} ${e.path} with ${cls === 'none' ? 'no' : `a ${cls}`} token → 401`)
    }
  }
})

t.test('an admin token cannot forge audit records; the signal token can (control)', async (t) => {
  const dir = tempDir(t, 'hangar-tokens-')
  const base = await start(t, dir)
  const forged = { method: 'POST' as const, path: '/v1/signals', body: { signals: signals(100, 105) }, allowed: [] }
  t.equal(await call(base, forged, TOKENS.admin), 401)
  t.equal(await call(base, forged, TOKENS.mcp), 401)
  t.equal(auditText(dir), '', 'nothing written')
  t.equal(await call(base, forged, TOKENS.signal), 202)
  t.equal(auditText(dir).trim().split('\n').length, 5, 'the signal token wrote them')
})

t.test('a token in two classes is a config error naming its path', async (t) => {
  const both = hangarConfigSchema.safeParse({ aggregator: { signal_tokens: ['a', 'shared'], admin_tokens: ['shared'] } })
  t.equal(both.success, false)
  t.match(JSON.stringify(both.error?.issues), /"path":\["aggregator","signal_tokens",1\].*also in admin_tokens/)
  const mcp = hangarConfigSchema.safeParse({ aggregator: { signal_tokens: ['s'], mcp_tokens: ['s'] } })
  t.equal(mcp.success, false)
  t.match(JSON.stringify(mcp.error?.issues), /"path":\["aggregator","mcp_tokens",0\]/)
  t.equal(hangarConfigSchema.safeParse({ aggregator: { signal_tokens: ['s'], admin_tokens: ['a'], mcp_tokens: ['m'] } }).success, true, 'distinct tokens are fine (control)')
})
