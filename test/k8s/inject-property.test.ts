// Property tests of k8s/inject.ts (fast-check): random pod specs mixing every refused setting with
// harmless ones. Whatever the mix, either injection refuses (and returns the input unchanged) or
// the injected pod holds the isolation invariants: only the init container adds capabilities (and
// only NET_ADMIN, NET_RAW), no container but the sidecar can run as uid 65532 or keep the runtime's
// NET_RAW/SETUID/SETGID or gain privileges, no other container runs with an unknown uid, nothing privileged or host-sharing, a valid Pod, and injecting again
// changes nothing. A control checks that the generator does produce accepted specs.
import t from 'tap'
import fc from 'fast-check'
import { Pod } from 'kubernetes-models/v1'
import { ANNOTATION, INIT_CONTAINER, SIDECAR_CONTAINER, SIDECAR_UID, injectPodSpec } from '../../k8s/inject.js'

// Property runs and restarts take tens of seconds on a loaded 2-core machine; the suite default (120 s) is too close.
t.setTimeout(300_000)

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const o = { sidecarImage: 'mcp-hangar/sidecar:test', aggregatorUrl: 'http://agg.mcp-hangar.svc:8000' }
const at = { spec: 'spec', metadata: 'metadata', workload: 'prop' }
const on = { [ANNOTATION.inject]: 'true' }

/** Mostly unset (or harmless), sometimes `arb`: so that both accepted and refused specs come up often. */
const rare = <T>(arb: fc.Arbitrary<T>, harmless: fc.Arbitrary<T | undefined> = fc.constant(undefined)) => fc.oneof({ weight: 12, arbitrary: harmless }, { weight: 1, arbitrary: arb })
const uid = rare(fc.constant(SIDECAR_UID), fc.constantFrom(undefined, 0, 1000, 65534))
const caps = fc.tuple(fc.subarray(['CHOWN', 'NET_BIND_SERVICE']), rare(fc.subarray(['NET_ADMIN', 'net_raw', 'CAP_SYS_ADMIN', 'ALL', 'SYS_PTRACE', 'BPF', 'SYS_MODULE', 'SETUID', 'setgid'], { minLength: 1 }))).map(([a, b]) => [...a, ...(b ?? [])])
const securityContext = fc.record({
  privileged: rare(fc.constant(true), fc.constantFrom(undefined, false)),
  allowPrivilegeEscalation: rare(fc.constant(true), fc.constantFrom(undefined, false)),
  runAsUser: uid,
  capabilities: fc.option(fc.record({ add: caps, drop: fc.option(fc.constantFrom(['ALL'], ['KILL'], ['cap_net_raw', 'MKNOD']), { nil: undefined }) }, { requiredKeys: ['add'] }), { nil: undefined }),
}, { requiredKeys: [] })
const container = (name: string, port?: number) => securityContext.map((sc) => ({ name, image: 'example/x:1', ...(port && { ports: [{ containerPort: port }] }), securityContext: JSON.parse(JSON.stringify(sc)) as Obj }))
const podSpec = fc.record({
  hostNetwork: rare(fc.constant(true), fc.constantFrom(undefined, false)),
  hostPID: rare(fc.constant(true), fc.constantFrom(undefined, false)),
  shareProcessNamespace: rare(fc.constant(true), fc.constantFrom(undefined, false)),
  podUid: uid,
  extra: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 2 }),
  withInit: fc.boolean(),
  hostPath: rare(fc.constant(true)),
}).chain((p) => fc.tuple(fc.constant(p), container('server', 3000), fc.array(container('helper'), { maxLength: 2 }), container('setup')))
  .map(([p, main, helpers, init]) => {
    const spec: Obj = {
      ...(p.hostNetwork !== undefined && { hostNetwork: p.hostNetwork }),
      ...(p.hostPID !== undefined && { hostPID: p.hostPID }),
      ...(p.shareProcessNamespace !== undefined && { shareProcessNamespace: p.shareProcessNamespace }),
      ...(p.podUid !== undefined && { securityContext: { runAsUser: p.podUid } }),
      containers: [main, ...helpers.map((h, i) => ({ ...h, name: `helper${i}` }))],
      ...(p.withInit && { initContainers: [init] }),
      ...(p.hostPath && { volumes: [{ name: 'h', hostPath: { path: '/run' } }] }),
    }
    return spec
  })

function checkInvariants(spec: Obj): string | undefined {
  if (spec.hostNetwork || spec.hostPID || spec.shareProcessNamespace) return 'host sharing'
  if ((spec.volumes ?? []).some((v: Obj) => v.hostPath)) return 'hostPath'
  const podUid = spec.securityContext?.runAsUser
  for (const c of [...(spec.initContainers ?? []), ...spec.containers] as Obj[]) {
    const sc = c.securityContext ?? {}
    if (sc.privileged) return `${c.name} privileged`
    const add: string[] = sc.capabilities?.add ?? []
    if (c.name === INIT_CONTAINER) {
      if (add.join() !== 'NET_ADMIN,NET_RAW' || sc.capabilities.drop.join() !== 'ALL') return 'init capabilities'
      continue
    }
    if (add.some((a) => /^(CAP_)?(NET_ADMIN|NET_RAW|SYS_ADMIN|ALL|SYS_PTRACE|BPF|SYS_MODULE|SETUID|SETGID)$/i.test(a))) return `${c.name} adds ${add.join()}`
    const drop = new Set((sc.capabilities?.drop ?? []).map((x: string) => x.toUpperCase().replace(/^CAP_/, '')))
    if (!drop.has('ALL') && !['NET_RAW', 'SETUID', 'SETGID'].every((x) => drop.has(x))) return `${c.name} keeps runtime default capabilities (drop ${[...drop].join()})`
    if (sc.allowPrivilegeEscalation !== false) return `${c.name} may gain privileges`
    const effective = sc.runAsUser ?? podUid
    if (c.name === SIDECAR_CONTAINER) {
      if (effective !== SIDECAR_UID) return 'sidecar uid'
    } else if (effective === undefined || effective === SIDECAR_UID) return `${c.name} runs as ${String(effective)}`
  }
  return undefined
}

t.test('any mix: refused unchanged, or injected with the isolation invariants, valid and idempotent', async (t) => {
  let accepted = 0
  let refused = 0
  fc.assert(fc.property(podSpec, (spec) => {
    const before = JSON.stringify(spec)
    const r = injectPodSpec(spec, on, o, at)
    if (r.refusals.length) {
      refused++
      return r.spec === spec && JSON.stringify(spec) === before && r.refusals.every((x) => x.path.startsWith('spec.') && x.message.length > 20)
    }
    accepted++
    const broken = checkInvariants(r.spec)
    if (broken) throw new Error(`${broken}: ${JSON.stringify(r.spec)}`)
    new Pod({ metadata: { name: 'p', annotations: r.annotations }, spec: r.spec } as never).validate()
    const again = injectPodSpec(r.spec, r.annotations, o, at)
    return JSON.stringify(again.spec) === JSON.stringify(r.spec) && again.notes.length === 0
  }), { numRuns: 400, seed: 18 })
  t.ok(accepted > 20, `the generator produces accepted specs (${accepted})`)
  t.ok(refused > 20, `and refused ones (${refused})`)
})

t.test('control: the invariant check catches what a refusal prevents', async (t) => {
  const bad: Obj = { containers: [{ name: 'server', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }
  t.match(checkInvariants(bad), /adds NET_ADMIN/)
  t.match(checkInvariants({ containers: [{ name: 'server', securityContext: { capabilities: { drop: ['ALL'] }, allowPrivilegeEscalation: false } }] }), /runs as undefined/)
  t.match(checkInvariants({ containers: [{ name: 'server', securityContext: { runAsUser: 1, capabilities: { drop: ['KILL'] } } }] }), /keeps runtime default capabilities/)
  t.match(checkInvariants({ containers: [{ name: 'server', securityContext: { runAsUser: 1, capabilities: { drop: ['ALL'] } } }] }), /may gain privileges/)
  t.match(checkInvariants({ securityContext: { runAsUser: SIDECAR_UID }, containers: [{ name: 'server', securityContext: { capabilities: { drop: ['ALL'] }, allowPrivilegeEscalation: false } }] }), /runs as 65532/)
})
