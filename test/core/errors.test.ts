// The one error-code table (core/errors.ts): codes are unique and well-formed, JSON-RPC codes sit
// in the ranges JSON-RPC 2.0 §5.1 gives them, statuses are the HTTP error statuses they name, and
// HangarError/ConfigError carry code, name and cause.
import t from 'tap'
import { STATUS_CODES } from 'node:http'
import { AGGREGATOR_API_ERROR_CODES, ConfigError, ERROR_CODES, HangarError, INGRESS_REJECT_REASONS, JSON_RPC_ERROR_CODES } from '../../core/errors.js'

t.test('HangarError codes: unique, HANGAR_ + the key', async (t) => {
  const values = Object.values(ERROR_CODES)
  t.equal(new Set(values).size, values.length, 'no two keys share a code')
  for (const [k, v] of Object.entries(ERROR_CODES)) t.equal(v, `HANGAR_${k}`, k)
})

t.test('JSON-RPC codes: unique; reserved pre-defined codes or the implementation-defined server range', async (t) => {
  const values = Object.values(JSON_RPC_ERROR_CODES)
  t.equal(new Set(values).size, values.length)
  const predefined = new Set([-32700, -32600, -32601, -32602, -32603])
  for (const [k, v] of Object.entries(JSON_RPC_ERROR_CODES)) t.ok(predefined.has(v) || (v <= -32000 && v >= -32099), `${k} ${v}`)
})

t.test('statuses are HTTP error statuses', async (t) => {
  for (const [k, v] of Object.entries(INGRESS_REJECT_REASONS)) t.ok(v.length > 0 && v.every((s) => s >= 400 && s < 600 && STATUS_CODES[s]), `ingress ${k}: ${v.join(', ')}`)
  for (const [k, v] of Object.entries(AGGREGATOR_API_ERROR_CODES)) t.ok(v >= 400 && v < 600 && STATUS_CODES[v], `aggregator ${k}: ${v}`)
})

t.test('HangarError and ConfigError carry code, subclass name, cause and issues', async (t) => {
  const cause = new Error('root')
  const e = new HangarError(ERROR_CODES.DIAL_FAILED, 'refused', { cause })
  t.equal(e.code, 'HANGAR_DIAL_FAILED')
  t.equal(e.name, 'HangarError')
  t.equal(e.cause, cause)
  t.ok(e instanceof Error)
  const c = new ConfigError('hangar.yaml', [{ path: 'providers.fetch.command', message: 'required' }, { path: 'sidecar.listen', message: 'not an address' }])
  t.equal(c.code, 'HANGAR_CONFIG_INVALID')
  t.equal(c.name, 'ConfigError')
  t.equal(c.message, 'invalid configuration in hangar.yaml:\n  providers.fetch.command: required\n  sidecar.listen: not an address')
  t.equal(c.issues.length, 2)
})
