/**
 * Property tests of `compose inject` (fast-check): random Compose files with every service key
 * inject passes through, anchors and `<<` merges (single and lists, overlapping keys), both label
 * forms, YAML 1.1 look-alike strings (`on`, `0755`, `1:30`), names Compose accepts but providers
 * do not; some labelled services carry one setting that must be refused, directly or from a merge.
 *
 * Properties, on every file:
 * - inject either writes a file or refuses with a ConfigError (never another exception);
 * - it refuses exactly the files with a planted setting, naming that service;
 * - its output injects to itself;
 * and, read by docker-compose v1's own loader (all files of a run in one process):
 * - the output is a valid Compose file;
 * - the services Compose sees labelled in the input are exactly the ones inject isolated;
 * - in the output, every service Compose sees labelled is on its internal network only, with no
 *   published port, its sidecar as DNS, not privileged, no network_mode or shared namespace;
 * - every other service, and every setting of a provider inject does not own, reads the same as
 *   in the input (the rewrite keeps the file's meaning).
 *
 * Quick profile (CI): seed 20261207, HANGAR_FUZZ_RUNS runs (default 150). Raise the runs or
 * change HANGAR_FUZZ_SEED to search further; a failure prints the seed and the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import * as Y from 'yaml'
import { injectCompose, type InjectOptions, type InjectResult } from '../../compose/inject.js'
import { composeYamlOptions } from '../../compose/resolve.js'
import { ConfigError, HangarError } from '../../core/errors.js'
import { composePython, composeRead, type ComposeView } from './compose-v1.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'hangar-inject-fuzz-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'app.env'), 'FROM_FILE=1\n')
const python = composePython()
if (!python && process.env.CI) t.fail('docker-compose is not installed (CI installs the Debian package)')

const SEED = Number(process.env.HANGAR_FUZZ_SEED ?? 20261207)
const RUNS = Number(process.env.HANGAR_FUZZ_RUNS ?? 150)
t.setTimeout(Math.max(120_000, RUNS * 2_000))

const opts: InjectOptions = {
  source: join(dir, 'docker-compose.yml'),
  sidecarImage: 'mcp-hangar/sidecar:test',
  aggregatorImage: 'mcp-hangar/aggregator:test',
  seccompProfile: join(root, 'security/seccomp/mcp-provider.json'),
  projectName: 'fuzz',
}

type Obj = Record<string, unknown>

/** Strings a YAML 1.1 reader turns into something else when they are written unquoted. */
const tricky = fc.constantFrom('on', 'off', 'yes', 'No', 'TRUE', 'y', 'n', '0755', '1:30', '09', '~', 'null', '', '1e3', '.5', '0x1f', '2001-01-01', '$$HOME', 'a b', 'x=y', '12', '- x', '#x', "'q'", '<<')
const word = fc.constantFrom('alpha', 'beta', 'gamma', 'x1', 'y_2')

/** A setting that must be refused on a labelled service, with the key its refusal names. */
const DANGERS: ReadonlyArray<readonly [string, Obj]> = [
  ['privileged', { privileged: true }],
  ['privileged', { privileged: 'yes' }],
  ['pid', { pid: 'host' }],
  ['ipc', { ipc: 'host' }],
  ['userns_mode', { userns_mode: 'host' }],
  ['network_mode', { network_mode: 'host' }],
  ['volumes', { volumes: ['/var/run/docker.sock:/var/run/docker.sock'] }],
  ['volumes', { volumes: [{ type: 'bind', source: '/proc', target: '/p' }] }],
  ['volumes', { volumes: ['/:/host:ro'] }],
  ['devices', { devices: ['/dev/fuse:/dev/fuse'] }],
  ['cap_add', { cap_add: ['CAP_SYS_ADMIN'] }],
  ['cap_add', { cap_add: ['net_admin'] }],
  ['security_opt', { security_opt: ['seccomp:unconfined'] }],
  ['sysctls', { sysctls: { 'net.ipv4.ip_forward': 1 } }],
  ['env_file', { env_file: '/etc/environment' }],
  ['volumes_from', { volumes_from: ['other'] }],
  ['volumes', { volumes: ['hostrun:/r'] }],
  ['volumes', { volumes: [`${'../'.repeat(16)}var/run/docker.sock:/s`] }],
  ['secrets', { secrets: ['hostsecret'] }],
  ['configs', { configs: [{ source: 'hostconfig', target: '/c' }] }],
]

interface ServicePlan {
  name: string
  labelled: boolean
  listLabels: boolean
  body: Obj
  extraLabels: Record<string, string>
  danger: number | undefined
  /** Keys moved into anchors: group 0 into `x-<i>-a`, group 1 into `x-<i>-b`; overlap keys appear in both. */
  mergeGroups: Array<0 | 1 | 2>
  mergeList: boolean
  dangerInMerge: boolean
}

const NAMES = ['web', 'db', 'tools', 'mcp.server', 'mcp-server', 'Api_2', '_hidden', 'a.b.c', 'fetch']

function serviceArb(name: string, labelled: boolean): fc.Arbitrary<ServicePlan> {
  const env = fc.oneof(fc.dictionary(fc.constantFrom('A', 'B', 'LOG', 'MODE', 'HTTP_PROXY'), tricky, { maxKeys: 4 }), fc.uniqueArray(fc.tuple(fc.constantFrom('A', 'B', 'C'), tricky), { maxLength: 3, selector: ([k]) => k }).map((l) => l.map(([k, v]) => `${k}=${v}`)))
  const mcpPorts = fc.constantFrom<Obj>({ expose: [8080] }, { expose: ['8080'] }, { ports: ['8080'] }, { ports: ['127.0.0.1:9101:8080'] }, { ports: [{ target: 8080, published: 9102 }] }, { ports: ['9103:8080/tcp'] })
  const otherPorts = fc.constantFrom<Obj>({}, { ports: ['80', '127.0.0.1:8443:443'] }, { expose: [5432, '9000'] })
  const body = fc.record({
    image: fc.constantFrom('i', 'example/app:1', 'registry.local:5000/app@sha256:' + 'a'.repeat(64)),
    command: fc.oneof(fc.array(tricky, { maxLength: 3 }), fc.constant('serve --port 8080')),
    environment: env,
    entrypoint: fc.array(word, { minLength: 1, maxLength: 2 }),
    working_dir: fc.constant('/app'),
    user: fc.constantFrom('1000', '1000:1000', 'app'),
    read_only: fc.boolean(),
    init: fc.boolean(),
    tty: fc.boolean(),
    cap_drop: fc.constantFrom(['ALL'], ['NET_RAW', 'MKNOD']),
    cap_add: fc.constantFrom(['CHOWN'], ['NET_BIND_SERVICE', 'SETUID']),
    security_opt: fc.constantFrom(['no-new-privileges:true'], ['no-new-privileges:true', 'apparmor=docker-default']),
    tmpfs: fc.constantFrom(['/tmp'], ['/run', '/var/cache']),
    volumes: fc.constantFrom(['./data:/data'], ['named:/n'], ['/srv/app:/app:ro', { type: 'volume', source: 'named', target: '/v' }], [{ type: 'tmpfs', target: '/t' }]),
    healthcheck: fc.constant({ test: ['CMD', 'true'], interval: '5s', retries: 3 }),
    restart: fc.constantFrom('no', 'always', 'unless-stopped', 'on-failure'),
    dns_search: fc.constant(['example.internal']),
    extra_hosts: fc.constant(['db.local:10.9.8.7']),
    hostname: word,
    mem_limit: fc.constantFrom('256m', '1g'),
    pids_limit: fc.constantFrom(64, 128),
    ulimits: fc.constant({ nofile: { soft: 1024, hard: 2048 } }),
    stop_signal: fc.constant('SIGTERM'),
    stop_grace_period: fc.constant('10s'),
    shm_size: fc.constant('64m'),
    profiles: fc.constant(['tools']),
    logging: fc.constant({ driver: 'json-file', options: { 'max-size': '1m' } }),
    env_file: fc.constant('./app.env'),
    group_add: fc.constant(['100']),
    oom_score_adj: fc.constant(0),
    domainname: fc.constant('example.internal'),
    networks: fc.constantFrom<unknown>(['front'], ['front', 'back'], { front: { aliases: ['tool-alias'] } }, { back: {} }),
    depends_on: fc.constantFrom<unknown>(['other'], { other: { condition: 'service_started' } }),
    sysctls: fc.constant({ 'net.core.somaxconn': 1024 }),
    secrets: fc.constantFrom<unknown>(['appsecret'], [{ source: 'appsecret', target: 'token' }]),
    configs: fc.constant(['appconfig']),
  }, { requiredKeys: ['image'] })
  return fc
    .record({
      body,
      ports: labelled ? mcpPorts : otherPorts,
      listLabels: fc.boolean(),
      extraLabels: fc.dictionary(fc.constantFrom('com.example.team', 'com.example.tier', 'traefik.enable'), tricky, { maxKeys: 2 }),
      hangarLabels: labelled ? fc.record({ 'mcp.hangar.path': fc.constantFrom('/mcp', 'rpc'), 'mcp.hangar.enforcement': fc.constantFrom('alert', 'block'), 'mcp.hangar.user': fc.constantFrom('image', '1000') }, { requiredKeys: [] }) : fc.constant({}),
      danger: labelled ? fc.option(fc.nat(DANGERS.length - 1), { freq: 3 }) : fc.constant(null),
      mergeGroups: fc.array(fc.constantFrom<0 | 1 | 2>(0, 1, 2, 2), { minLength: 40, maxLength: 40 }),
      merge: fc.boolean(),
      mergeList: fc.boolean(),
      dangerInMerge: fc.boolean(),
    })
    .map((r) => {
      const b: Obj = { ...r.body, ...r.ports }
      // sysctls are host access on a provider; only unlabelled services get them at random
      if (labelled) delete b.sysctls
      // depends_on and networks must name what exists
      return {
        name,
        labelled,
        listLabels: r.listLabels,
        body: b,
        extraLabels: { ...r.extraLabels, ...(labelled ? r.hangarLabels : {}) },
        danger: r.danger ?? undefined,
        mergeGroups: r.merge ? r.mergeGroups : [],
        mergeList: r.mergeList,
        dangerInMerge: r.dangerInMerge,
      }
    })
}

interface Case {
  text: string
  labelled: string[]
  /** The service with a planted setting, and the key its refusal names. */
  danger?: { service: string; key: string }
}

const caseArb: fc.Arbitrary<Case> = fc
  .uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 })
  .chain((names) => fc.tuple(fc.constant(names), fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length })))
  .chain(([names, flags]) => fc.tuple(...names.map((n, i) => serviceArb(n, flags[i]! || i === 0))))
  .map((plans) => buildCase(plans))

/** Builds the file: x- anchors first (they must precede their aliases), then services, networks, volumes. */
function buildCase(plans: ServicePlan[]): Case {
  const doc = new Y.Document({}, composeYamlOptions())
  const services: Obj = {}
  const anchors: Array<{ service: string; key: string; value: Obj }> = []
  const plannedMerges = new Map<string, string[]>()
  let danger: Case['danger']
  plans.forEach((p, i) => {
    const body: Obj = { ...p.body }
    if (body.depends_on !== undefined) body.depends_on = Array.isArray(body.depends_on) ? ['other'] : { other: { condition: 'service_started' } }
    if (p.danger !== undefined && !danger) {
      const [key, setting] = DANGERS[p.danger]!
      Object.assign(body, setting)
      danger = { service: p.name, key }
    }
    const hangar = p.labelled ? { 'mcp.hangar.enabled': 'true', ...p.extraLabels } : p.extraLabels
    body.labels = p.listLabels ? Object.entries(hangar).map(([k, v]) => `${k}=${v}`) : hangar
    const keys = Object.keys(body).sort()
    const groups: [Obj, Obj] = [{}, {}]
    let explicit: Obj = body
    if (p.mergeGroups.length) {
      explicit = {}
      keys.forEach((k, j) => {
        const g = p.mergeGroups[j % p.mergeGroups.length]!
        const forced = danger?.service === p.name && DANGERS[p.danger!]![0] === k ? (p.dangerInMerge ? 0 : 2) : g
        if (forced === 2 || (forced === 1 && !p.mergeList)) explicit[k] = body[k]
        else groups[forced]![k] = body[k]
        // an overlapping decoy that must lose: explicit keys win over merged ones, the first source over the second
        if (forced === 0 && p.mergeList && k === 'image') groups[1]![k] = 'decoy/loses:1'
        if (forced === 2 && k === 'hostname') groups[0]![k] = 'decoy-loses'
      })
      const names = [`x-s${i}-a`, ...(p.mergeList ? [`x-s${i}-b`] : [])]
      names.forEach((n, g) => anchors.push({ service: p.name, key: n, value: groups[g]! }))
      plannedMerges.set(p.name, names)
    }
    services[p.name] = explicit
  })
  // "other" stands for the service before this one (no cycles), so depends_on and volumes_from name one
  const before = (name: string) => plans[plans.findIndex((p) => p.name === name) - 1]?.name ?? null
  for (const [name, s] of Object.entries(services)) fixOther(s as Obj, before(name))
  for (const a of anchors) fixOther(a.value, before(a.service))
  const top: Obj = {}
  for (const a of anchors) top[a.key] = a.value
  top.services = services
  top.networks = { front: {}, back: { internal: false } }
  top.volumes = { named: {}, hostrun: { driver: 'local', driver_opts: { type: 'none', o: 'bind', device: '/var/run' } } }
  top.secrets = { appsecret: { file: './app.env' }, hostsecret: { file: '/etc/shadow' } }
  top.configs = { appconfig: { file: './app.env' }, hostconfig: { file: '/proc/self/environ' } }
  doc.contents = doc.createNode(top) as typeof doc.contents
  for (const [service, anchorNames] of plannedMerges) {
    const node = doc.getIn(['services', service], true) as Y.YAMLMap
    const aliases = anchorNames.map((n) => doc.createAlias(doc.get(n, true) as Y.YAMLMap, n.replace(/-/g, '_')))
    const value = aliases.length === 1 ? aliases[0]! : doc.createNode(aliases)
    node.items.unshift(doc.createPair(Symbol('<<'), value) as Y.Pair)
  }
  return { text: doc.toString({ lineWidth: 0 }), labelled: plans.filter((p) => p.labelled).map((p) => p.name), ...(danger && { danger }) }
}

/** Replaces the placeholder service name "other" (or drops the key when the file has one service). */
function fixOther(s: Obj, other: string | null): void {
  for (const k of ['depends_on', 'volumes_from']) {
    const v = s[k]
    if (v === undefined) continue
    if (other === null && k === 'depends_on') delete s[k]
    else if (Array.isArray(v)) s[k] = v.map((x) => (x === 'other' ? (other ?? 'web') : x))
    else if (v && typeof v === 'object') s[k] = Object.fromEntries(Object.entries(v as Obj).map(([n, c]) => [n === 'other' ? other : n, c]))
  }
}

/** Runs inject; the outcome, or the unexpected exception. */
function run(c: Case): { ok: InjectResult } | { refused: ConfigError } | { crash: unknown } {
  try {
    return { ok: injectCompose(c.text, opts) }
  } catch (err) {
    if (err instanceof ConfigError) return { refused: err }
    if (err instanceof HangarError) return { crash: err }
    return { crash: err }
  }
}

t.test(`inject on random files (seed ${SEED}, ${RUNS} runs): refuses exactly the planted settings, never crashes, is idempotent`, (tt) => {
  tt.doesNotThrow(() => fc.assert(
    fc.property(caseArb, (c) => {
      const r = run(c)
      if ('crash' in r) throw new Error(`inject crashed: ${String((r.crash as Error)?.stack ?? r.crash)}\n${c.text}`)
      if (c.danger) {
        if (!('refused' in r)) throw new Error(`a planted ${c.danger.key} on ${c.danger.service} was not refused\n${c.text}`)
        const at = `services.${c.danger.service}`
        if (!r.refused.issues.some((i) => i.path === at || i.path.startsWith(`${at}.`))) throw new Error(`refused, but not naming ${at}: ${JSON.stringify(r.refused.issues)}\n${c.text}`)
        return
      }
      if ('refused' in r) throw new Error(`a file with nothing to refuse was refused: ${JSON.stringify(r.refused.issues)}\n${c.text}`)
      const again = injectCompose(r.ok.text, opts)
      if (again.text !== r.ok.text) throw new Error(`not idempotent\n${c.text}`)
      const isolated = r.ok.providers.map((p) => p.service).sort()
      if (JSON.stringify(isolated) !== JSON.stringify([...c.labelled].sort())) throw new Error(`isolated ${isolated.join(',')}, labelled ${c.labelled.join(',')}\n${c.text}`)
    }),
    { seed: SEED, numRuns: RUNS },
  ), `${RUNS} random files: every planted setting refused, every clean file injected, idempotent, isolating the labelled services`)
  tt.end()
})

/** Keys of a provider inject rewrites (or adds when absent); every other key must read the same after. */
const OWNED = new Set(['networks', 'ports', 'dns', 'environment', 'depends_on', 'cap_drop', 'read_only', 'tmpfs', 'security_opt', 'pids_limit', 'mem_limit', 'user'])

t.test(`docker-compose reads the outputs of random files (seed ${SEED}, ${RUNS} runs) as isolated, with the input's meaning`, { skip: python ? false : 'docker-compose not installed' }, (tt) => {
  const cases = fc.sample(caseArb, { seed: SEED, numRuns: RUNS }).filter((c) => !c.danger)
  const results = cases.map((c) => run(c))
  const files: string[] = []
  cases.forEach((c, i) => {
    const r = results[i]!
    writeFileSync(join(dir, `in-${i}.yml`), c.text)
    writeFileSync(join(dir, `out-${i}.yml`), 'ok' in r ? r.ok.text : 'services: {}\n')
    files.push(join(dir, `in-${i}.yml`), join(dir, `out-${i}.yml`))
  })
  const read = composeRead(python!, files)
  let checked = 0
  cases.forEach((c, i) => {
    const r = results[i]!
    const input = read[2 * i]!
    const output = read[2 * i + 1]!
    const where = `case ${i}:\n${c.text}`
    if (!input.ok) return tt.fail(`docker-compose refuses the generated input: ${input.error}\n${where}`)
    if (!('ok' in r)) return tt.fail(`inject refused a clean file\n${where}`)
    if (!output.ok) return tt.fail(`docker-compose refuses the output: ${output.error}\n${where}`)
    const inSvc = input.config.services as Record<string, ComposeView>
    const outSvc = output.config.services as Record<string, ComposeView>
    const composeLabelled = Object.keys(inSvc).filter((n) => /^(true|1|yes|on)$/i.test(inSvc[n]!.labels?.['mcp.hangar.enabled'] ?? '')).sort()
    if (!tt.same(r.ok.providers.map((p) => p.service).sort(), composeLabelled, `case ${i}: inject isolates what Compose sees labelled`)) tt.comment(where)
    for (const p of r.ok.providers) {
      const s = outSvc[p.service]!
      const net = `hangar_${p.provider}_internal`
      const ok = Object.keys(s.networks ?? {}).join() === net &&
        output.config.networks?.[net]?.internal === true &&
        s.ports === undefined && !s.privileged && s.network_mode === undefined && s.pid === undefined && s.ipc === undefined &&
        JSON.stringify(s.dns) === JSON.stringify([p.sidecarAddress]) &&
        outSvc[p.sidecar]?.networks?.[net]?.ipv4_address === p.sidecarAddress
      if (!tt.ok(ok, `case ${i}: ${p.service} isolated in Compose's view of the output`)) tt.comment(`${JSON.stringify(s)}\n${where}`)
      const before = inSvc[p.service]!
      for (const k of Object.keys(before)) {
        if (OWNED.has(k)) continue
        if (!tt.same(s[k], before[k], `case ${i}: ${p.service}.${k} reads the same`)) tt.comment(where)
      }
      for (const [k, v] of Object.entries((before.environment ?? {}) as Record<string, unknown>)) {
        if (/^(https?_proxy|no_proxy)$/i.test(k)) continue
        if (!tt.equal(s.environment?.[k], v, `case ${i}: ${p.service} environment ${k} reads the same`)) tt.comment(where)
      }
    }
    for (const n of Object.keys(inSvc)) {
      if (r.ok.providers.some((p) => p.service === n)) continue
      if (!tt.same(outSvc[n], inSvc[n], `case ${i}: unlabelled ${n} reads the same`)) tt.comment(where)
    }
    checked++
  })
  tt.ok(checked >= cases.length * 0.9, `${checked} of ${cases.length} clean files checked end to end`)
  tt.end()
})

t.test('provider names: any set of Compose service names maps to valid, distinct, stable provider names', async (tt) => {
  const { providerNames, PROVIDER_NAME } = await import('../../compose/provider-name.js')
  const composeName = fc.stringMatching(/^[a-zA-Z0-9._-]{1,80}$/)
  tt.doesNotThrow(() => fc.assert(
    fc.property(fc.uniqueArray(composeName, { minLength: 1, maxLength: 8 }), fc.uniqueArray(composeName, { maxLength: 4 }), (labelled, others) => {
      const all = [...labelled, ...others.filter((o) => !labelled.includes(o))]
      const m = providerNames(labelled, all)
      const names = labelled.map((s) => m.get(s)!)
      if (!names.every((n) => PROVIDER_NAME.test(n))) throw new Error(`invalid: ${names.join(', ')}`)
      if (new Set(names.map((n) => n.toLowerCase())).size !== names.length && new Set(names).size !== names.length) throw new Error(`not distinct: ${names.join(', ')}`)
      for (const s of labelled) {
        const n = m.get(s)!
        if (n !== s && all.some((o) => o !== s && o.toLowerCase() === n.toLowerCase())) throw new Error(`${s} → ${n} takes another service's name`)
        if (PROVIDER_NAME.test(s) && s.toLowerCase() !== 'aggregator' && n !== s) throw new Error(`valid ${s} renamed to ${n}`)
      }
      if (JSON.stringify([...providerNames(labelled, all)]) !== JSON.stringify([...m])) throw new Error('not deterministic')
    }),
    { seed: SEED, numRuns: 500 },
  ), 'valid, distinct, never another service\'s name, valid names kept, deterministic')
})
