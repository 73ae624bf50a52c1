// cli/enterprise.ts, the enterprise loader, in this process (from source): where the bootstrap is
// for the bundle, compiled and source layouts; one log line per decision; the bootstrap imported
// only when a key verified or under the community grant (a probe module records every import);
// a failing import or register() is logged and leaves every port at its no-op default
// (enterprise/bootstrap.ts itself: test/enterprise/bootstrap.test.ts).
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import t from 'tap'
import { enterpriseBootstrapUrl, loadEnterprise } from '../../cli/enterprise.js'
import { signLicense, type LicensePayload } from '../../core/license.js'
import type { Logger } from '../../core/log.js'
import { NOOP_COMPLIANCE, createPortRegistry, type ComplianceExportPort } from '../../core/ports.js'

const pair = generateKeyPairSync('ed25519')
const PEM = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string
const NOW = new Date('2027-06-01T00:00:00Z')
const PAYLOAD: LicensePayload = { licensee: 'Acme Corp', expires: '2028-01-01T00:00:00Z', max_providers: 8, features: ['compliance_export'] }

/** A logger whose JSON lines are kept. */
function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log: Logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
  return { lines, log }
}

/** A bootstrap stand-in that counts its imports and register() calls on globalThis. */
function probe(dir: string, name: string, body: string): URL {
  const f = join(dir, `${name}.mjs`)
  writeFileSync(f, `globalThis.__probe = globalThis.__probe ?? { imports: 0, registers: 0 }\nglobalThis.__probe.imports++\n${body}\n`)
  return pathToFileURL(f)
}
const probeCounts = () => ({ ...((globalThis as { __probe?: { imports: number; registers: number } }).__probe ?? { imports: 0, registers: 0 }) })
const SENTINEL: ComplianceExportPort = { async start() {}, async stop() {}, status: () => [], async sendSample() { return { sink: 's', id: 'x' } } }
const REGISTERING = "export async function register(ports, license) { globalThis.__probe.registers++; ports.compliance = { marker: 'probe', license: license.mode } }"

t.test('the bootstrap is found beside the running module: bundle, compiled, source', async (t) => {
  t.equal(enterpriseBootstrapUrl('file:///opt/mcp-hangar/dist/mcp-hangar.mjs').href, 'file:///opt/mcp-hangar/dist/mcp-hangar-enterprise.mjs')
  t.equal(enterpriseBootstrapUrl('file:///opt/mcp-hangar/dist/cli/enterprise.js').href, 'file:///opt/mcp-hangar/dist/enterprise/bootstrap.js')
  t.equal(enterpriseBootstrapUrl('file:///src/hangar/cli/enterprise.ts').href, 'file:///src/hangar/enterprise/bootstrap.ts')
  t.equal(enterpriseBootstrapUrl().href, new URL('../../enterprise/bootstrap.ts', import.meta.url).href, 'this checkout, from source')
})

t.test('the community grant (no key, 4 providers) imports the bootstrap and logs enterprise modules loaded', async (t) => {
  const dir = t.testdir({})
  const url = probe(dir, 'community', REGISTERING)
  const before = probeCounts()
  const registry = createPortRegistry()
  const { log, lines } = capture()
  const state = await loadEnterprise({ providers: 4, log, key: undefined, registry, bootstrapUrl: url })
  t.equal(state.mode, 'community')
  t.strictSame(registry.license, state)
  t.equal(registry.enterprise, true)
  t.match(registry.compliance, { marker: 'probe', license: 'community' }, 'register() received the registry and the license')
  t.equal(probeCounts().imports, before.imports + 1)
  t.equal(lines.length, 1, 'exactly one log line')
  t.match(lines[0], { level: 30, msg: 'enterprise modules loaded', mode: 'community', licensee: 'community grant', features: ['compliance_export'], providers: 4 })
})

t.test('refusals never import the bootstrap and log the reason: no key at 5 providers, bad signature, expired, over the limit, malformed', async (t) => {
  const dir = t.testdir({})
  const url = probe(dir, 'refused', REGISTERING)
  const other = generateKeyPairSync('ed25519')
  const cases: Array<[string, { key: string | undefined; providers: number }, number, string, string]> = [
    ['no key, 5 providers', { key: undefined, providers: 5 }, 40, 'no license key found, using defaults', 'no license key found, using defaults: 5 providers configured, the community grant covers fewer than 5'],
    ['an empty key, 9 providers', { key: '', providers: 9 }, 40, 'no license key found, using defaults', 'no license key found, using defaults: 9 providers configured, the community grant covers fewer than 5'],
    ['a key signed by another key pair', { key: signLicense(PAYLOAD, other.privateKey), providers: 1 }, 50, 'license key refused: bad signature: the license key was not signed by the MCP Hangar license key', 'bad signature: the license key was not signed by the MCP Hangar license key'],
    ['an expired key', { key: signLicense({ ...PAYLOAD, expires: '2027-01-01T00:00:00Z' }, pair.privateKey), providers: 1 }, 50, 'license key refused: license expired on 2027-01-01T00:00:00Z', 'license expired on 2027-01-01T00:00:00Z'],
    ['over the provider limit', { key: signLicense(PAYLOAD, pair.privateKey), providers: 9 }, 50, 'license key refused: 9 providers configured, the license allows 8', '9 providers configured, the license allows 8'],
    ['a malformed key', { key: 'not-a-license', providers: 1 }, 50, 'license key refused: malformed license key: expected <payload>.<signature> (two base64url parts joined by a dot), got 1 part(s)', 'malformed license key: expected <payload>.<signature> (two base64url parts joined by a dot), got 1 part(s)'],
  ]
  for (const [name, input, level, msg, reason] of cases) {
    const before = probeCounts()
    const registry = createPortRegistry()
    registry.compliance = SENTINEL
    registry.enterprise = true
    const { log, lines } = capture()
    const state = await loadEnterprise({ ...input, log, registry, bootstrapUrl: url, license: { now: NOW, publicKey: PEM } })
    t.equal(state.mode, 'unlicensed', name)
    t.equal(state.reason, reason, `${name}: reason`)
    t.strictSame(state.features, [], `${name}: no features`)
    t.equal(registry.enterprise, false, `${name}: enterprise off`)
    t.equal(registry.compliance, NOOP_COMPLIANCE, `${name}: the no-op compliance export`)
    t.strictSame(probeCounts(), before, `${name}: the bootstrap was not imported`)
    t.equal(lines.length, 1, `${name}: one log line`)
    t.match(lines[0], { level, msg, reason, providers: input.providers }, `${name}: the log line`)
  }
  // Control: the same probe with a key that verifies is imported and registers.
  const before = probeCounts()
  const registry = createPortRegistry()
  const { log, lines } = capture()
  const state = await loadEnterprise({ key: signLicense(PAYLOAD, pair.privateKey), providers: 8, log, registry, bootstrapUrl: url, license: { now: NOW, publicKey: PEM } })
  t.strictSame(state, { mode: 'licensed', licensee: 'Acme Corp', expires: '2028-01-01T00:00:00Z', max_providers: 8, features: ['compliance_export'] })
  t.strictSame(probeCounts(), { imports: before.imports + 1, registers: before.registers + 1 }, 'control: imported and registered')
  t.equal(registry.enterprise, true)
  t.match(lines, [{ level: 30, msg: 'enterprise modules loaded', mode: 'licensed', licensee: 'Acme Corp', features: ['compliance_export'], expires: '2028-01-01T00:00:00Z', providers: 8 }])
})

t.test('a bootstrap that cannot load or register is logged, never thrown, and the ports stay no-op', async (t) => {
  const dir = t.testdir({})
  const cases: Array<[string, URL, RegExp]> = [
    ['a missing module', pathToFileURL(join(dir, 'missing.mjs')), /Cannot find module|ERR_MODULE_NOT_FOUND/],
    ['a module that throws on import', probe(dir, 'throws', "throw new Error('boom at import')"), /boom at import/],
    ['a module without register()', probe(dir, 'noreg', 'export const x = 1'), /exports no register\(\)/],
    ['a register() that fails half-way', probe(dir, 'half', "export async function register(ports) { ports.compliance = { marker: 'half' }; ports.enterprise = true; throw new Error('register failed') }"), /register failed/],
    ['a syntax error', (() => { const f = join(dir, 'syntax.mjs'); writeFileSync(f, 'export const = ;'); return pathToFileURL(f) })(), /SyntaxError|Unexpected/],
  ]
  for (const [name, url, err] of cases) {
    const registry = createPortRegistry()
    const { log, lines } = capture()
    const state = await loadEnterprise({ key: undefined, providers: 1, log, registry, bootstrapUrl: url })
    t.equal(state.mode, 'community', `${name}: the license decision stands`)
    t.equal(registry.enterprise, false, `${name}: enterprise off`)
    t.equal(registry.compliance, NOOP_COMPLIANCE, `${name}: the no-op compliance export`)
    t.equal(lines.length, 1, `${name}: one log line`)
    t.match(lines[0], { level: 50, msg: 'enterprise modules failed to load, using defaults', mode: 'community', module: url.href, err }, name)
  }
})

t.test('the real bootstrap from source: loaded under the community grant', async (t) => {
  const registry = createPortRegistry()
  const { log, lines } = capture()
  await loadEnterprise({ key: undefined, providers: 2, log, registry })
  t.equal(registry.enterprise, true)
  t.match(lines, [{ msg: 'enterprise modules loaded', features: ['compliance_export'] }])
})
