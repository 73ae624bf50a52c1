// k8s/inject.ts: one pod template injected: the init container and the sidecar as specified,
// provider hardening only where unset, every refusal with its control case (the same spec without
// the setting injects), the annotations, idempotency and the digest noticing hand edits, the
// generated config accepted by the hangar.yaml loader, and the output valid as a Pod.
import t from 'tap'
import { Pod } from 'kubernetes-models/v1'
import { parseConfig } from '../../config/load.js'
import { stringify as stringifyYaml } from 'yaml'
import { ALWAYS_DROPPED, ANNOTATION, INIT_CONTAINER, K8S_PORTS, PROVIDER_UID, SIDECAR_CONFIG_ENV, SIDECAR_CONTAINER, SIDECAR_UID, escapeEnvValue, injectPodSpec, podRefusals, templateDigest } from '../../k8s/inject.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const o = { sidecarImage: 'mcp-hangar/sidecar:test', aggregatorUrl: 'http://agg.mcp-hangar.svc:8000' }
const on = { [ANNOTATION.inject]: 'true' }
const at = { spec: 'spec', metadata: 'metadata', workload: 'fetch' }
const base = (): Obj => ({ containers: [{ name: 'server', image: 'example/mcp:1', ports: [{ containerPort: 3000 }] }] })

const asPod = (spec: Obj, annotations: Record<string, string>) => new Pod({ metadata: { name: 'p', annotations }, spec } as never).validate()

t.test('without the annotation (or "false") nothing changes; another value is refused', async (t) => {
  for (const a of [{}, { [ANNOTATION.inject]: 'false' }] as Array<Record<string, string>>) {
    const spec = base()
    const r = injectPodSpec(spec, a, o, at)
    t.equal(r.spec, spec)
    t.strictSame(r.refusals, [])
    t.equal(r.provider, undefined)
  }
  const r = injectPodSpec(base(), { [ANNOTATION.inject]: 'yes' }, o, at)
  t.match(r.refusals, [{ path: `metadata.annotations.${ANNOTATION.inject}`, message: /expected "true" or "false"/ }])
})

t.test('an injected template: the init container, the native sidecar, volumes, annotations; a valid Pod; input untouched', async (t) => {
  const input = base()
  const before = JSON.stringify(input)
  const r = injectPodSpec(input, { ...on, [ANNOTATION.profile]: 'fetch' }, o, at)
  t.strictSame(r.refusals, [])
  t.equal(JSON.stringify(input), before, 'the input object is not modified')
  t.equal(r.provider, 'fetch')
  t.equal(r.configMapName, 'mcp-hangar-fetch')
  const [init, sidecar] = r.spec.initContainers as Obj[]
  t.equal(init!.name, INIT_CONTAINER)
  t.strictSame(init!.args, ['k8s', 'init', '--dns-port', '15053', '--http-port', '15080', '--tls-port', '15443', '--admin-port', '15901', '--mcp-port', '3000', '--ingress-port', '15006', '--trap-port', '15999', '--sidecar-uid', '65532'], 'the rule ports as flags: the init container reads no config and no token')
  t.notOk(JSON.stringify(init).includes('HANGAR_SIGNAL_TOKEN'), 'no secret in the init container')
  t.strictSame(init!.securityContext, {
    runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] }, seccompProfile: { type: 'RuntimeDefault' },
  })
  t.equal(sidecar!.name, SIDECAR_CONTAINER)
  t.equal(sidecar!.restartPolicy, 'Always', 'a native sidecar: starts first, does not hold a Job open')
  t.strictSame(sidecar!.securityContext, {
    runAsUser: SIDECAR_UID, runAsGroup: SIDECAR_UID, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  })
  t.ok(sidecar!.resources.requests.memory && sidecar!.resources.limits.memory)
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) t.match(sidecar![probe].exec.command.join(' '), `http://127.0.0.1:${K8S_PORTS.admin}/health`)
  t.strictSame(sidecar!.ports, [{ name: 'hangar-mcp', containerPort: K8S_PORTS.ingress, protocol: 'TCP' }])
  t.match(sidecar!.env, [{ name: 'HANGAR_SIGNAL_TOKEN', valueFrom: { secretKeyRef: { name: 'mcp-hangar-signal-token', key: 'token' } } }])
  t.strictSame((r.spec.volumes as Obj[]).map((v) => v.name), ['mcp-hangar-config', 'mcp-hangar-data', 'mcp-hangar-tmp', 'mcp-hangar-provider-tmp'])
  t.match(r.annotations, { [ANNOTATION.injected]: /^[0-9a-f]{16}$/, [ANNOTATION.configDigest]: /^[0-9a-f]{16}$/, [ANNOTATION.profile]: 'fetch' })
  t.doesNotThrow(() => asPod(r.spec, r.annotations))
  // the config is a hangar.yaml the sidecar loads: upstream over loopback on the server's own port
  const cfg = parseConfig(JSON.stringify(r.config), 'cm', { HANGAR_SIGNAL_TOKEN: 'x'.repeat(32) })
  const p = cfg.config.providers.fetch!
  t.equal(p.endpoint, 'http://127.0.0.1:3000/mcp')
  t.equal(p.listen, `0.0.0.0:${K8S_PORTS.ingress}`)
  t.equal(p.profile, 'fetch')
  t.equal(cfg.config.aggregator?.url, o.aggregatorUrl)
})

t.test('provider hardening: every default on a bare container, none where the container or pod sets it', async (t) => {
  const r = injectPodSpec(base(), on, o, at)
  const c = (r.spec.containers as Obj[])[0]!
  t.strictSame(c.securityContext, {
    runAsUser: PROVIDER_UID, runAsGroup: PROVIDER_UID, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  })
  t.strictSame(c.volumeMounts, [{ name: 'mcp-hangar-provider-tmp', mountPath: '/tmp' }])
  const own = { runAsUser: 1000, readOnlyRootFilesystem: false, allowPrivilegeEscalation: true, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['KILL'] } }
  const spec: Obj = { securityContext: { runAsGroup: 2000, runAsNonRoot: true, seccompProfile: { type: 'Localhost', localhostProfile: 'x.json' } }, containers: [{ ...base().containers[0], securityContext: own, volumeMounts: [{ name: 'scratch', mountPath: '/tmp/' }] }], volumes: [{ name: 'scratch', emptyDir: {} }] }
  const r2 = injectPodSpec(spec, on, o, at)
  const c2 = (r2.spec.containers as Obj[])[0]!
  t.strictSame(c2.securityContext, own, 'nothing the container or pod sets is added to or overridden')
  t.strictSame(c2.volumeMounts, [{ name: 'scratch', mountPath: '/tmp/' }], 'its own /tmp is kept')
})

t.test('an own drop list still loses NET_RAW, SETUID and SETGID; the pod\'s init containers are hardened too', async (t) => {
  const spec = base()
  spec.containers[0].securityContext = { capabilities: { drop: ['KILL', 'cap_setuid'] } }
  spec.initContainers = [{ name: 'setup', image: 'x' }]
  const r = injectPodSpec(spec, on, o, at)
  t.strictSame((r.spec.containers as Obj[])[0]!.securityContext.capabilities.drop, ['KILL', 'cap_setuid', 'NET_RAW', 'SETGID'])
  const setup = (r.spec.initContainers as Obj[])[2]!
  t.equal(setup.name, 'setup', 'after the init container and the sidecar')
  t.match(setup.securityContext, { runAsUser: PROVIDER_UID, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
  spec.containers[0].securityContext = { capabilities: { drop: ['all'] } }
  t.strictSame((injectPodSpec(spec, on, o, at).spec.containers as Obj[])[0]!.securityContext.capabilities.drop, ['all'], 'ALL (any case) is enough')
})

/** Each unisolable setting, applied to a fresh spec; the same spec without it is the control. */
const REFUSED: Array<[string, (s: Obj) => void, string, RegExp]> = [
  ['hostNetwork', (s) => { s.hostNetwork = true }, 'spec.hostNetwork', /node's network namespace.*remove hostNetwork/],
  ['hostPID', (s) => { s.hostPID = true }, 'spec.hostPID', /every process on the node.*remove hostPID/],
  ['hostIPC', (s) => { s.hostIPC = true }, 'spec.hostIPC', /IPC namespace.*remove hostIPC/],
  ['shareProcessNamespace', (s) => { s.shareProcessNamespace = true }, 'spec.shareProcessNamespace', /signal token.*remove shareProcessNamespace/],
  ['privileged', (s) => { s.containers[0].securityContext = { privileged: true } }, 'spec.containers[0].securityContext.privileged', /nftables rules; remove privileged/],
  ['NET_ADMIN', (s) => { s.containers[0].securityContext = { capabilities: { add: ['NET_ADMIN'] } } }, 'spec.containers[0].securityContext.capabilities.add[0]', /flush the pod's nftables rules/],
  ['CAP_NET_RAW (prefixed, lowercase)', (s) => { s.containers[0].securityContext = { capabilities: { add: ['CHOWN', 'cap_net_raw'] } } }, 'spec.containers[0].securityContext.capabilities.add[1]', /AF_PACKET/],
  ['SYS_ADMIN in an init container', (s) => { s.initContainers = [{ name: 'setup', image: 'x', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }, 'spec.initContainers[0].securityContext.capabilities.add[0]', /other namespaces/],
  ['SETUID (could become uid 65532)', (s) => { s.containers[0].securityContext = { capabilities: { add: ['SETUID'] } } }, 'spec.containers[0].securityContext.capabilities.add[0]', /switch to uid 65532/],
  ['allowPrivilegeEscalation true', (s) => { s.containers[0].securityContext = { allowPrivilegeEscalation: true } }, 'spec.containers[0].securityContext.allowPrivilegeEscalation', /set-user-ID programs.*set it to false/],
  ['ALL', (s) => { s.containers[0].securityContext = { capabilities: { add: ['ALL'] } } }, 'spec.containers[0].securityContext.capabilities.add[0]', /ALL includes NET_ADMIN/],
  ['container runAsUser 65532', (s) => { s.containers[0].securityContext = { runAsUser: SIDECAR_UID } }, 'spec.containers[0].securityContext.runAsUser', /sidecar's.*bypass the sidecar; choose another uid/],
  ['pod runAsUser 65532 inherited', (s) => { s.securityContext = { runAsUser: SIDECAR_UID } }, 'spec.securityContext.runAsUser', /sidecar's/],
  ['a sidecar port', (s) => { s.containers[0].ports = [{ containerPort: K8S_PORTS.dns }] }, 'spec.containers[0].ports[0].containerPort', /port of the sidecar/],
  ['a reserved container name', (s) => { s.containers.push({ name: 'mcp-hangar-sidecar', image: 'evil' }) }, 'spec.containers[1].name', /reserved/],
  ['a hostPath volume (the runtime socket)', (s) => { s.volumes = [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] }, 'spec.volumes[0].hostPath', /outside the pod.*use an emptyDir/],
  ['a reserved volume name', (s) => { s.volumes = [{ name: 'mcp-hangar-config', emptyDir: {} }] }, 'spec.volumes[0].name', /reserved/],
]

for (const [name, apply, path, message] of REFUSED) {
  t.test(`refused: ${name} (control: the same spec without it injects)`, async (t) => {
    const control = injectPodSpec(base(), on, o, at)
    t.strictSame(control.refusals, [], 'control injects')
    const spec = base()
    apply(spec)
    const r = injectPodSpec(spec, on, o, at)
    t.match(r.refusals, [{ path, message }])
    t.equal(r.refusals.length, 1, 'only that refusal')
    t.equal(r.spec, spec, 'nothing injected')
    t.equal(r.provider, undefined)
  })
}

t.test('every refusal of one spec is listed, and false values are not refused', async (t) => {
  const spec: Obj = { hostNetwork: true, hostPID: true, shareProcessNamespace: true, containers: [{ name: 'a', image: 'x', securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'] } } }] }
  t.equal(podRefusals(spec, 'spec').length, 7)
  t.strictSame(ALWAYS_DROPPED, ['NET_RAW', 'SETUID', 'SETGID'])
  const ok: Obj = { hostNetwork: false, hostPID: false, shareProcessNamespace: false, containers: [{ name: 'a', image: 'x', securityContext: { privileged: false, runAsUser: 65533 } }] }
  t.strictSame(podRefusals(ok, 'spec'), [])
  t.strictSame(podRefusals({ securityContext: { runAsUser: SIDECAR_UID }, containers: [{ name: 'a', image: 'x', securityContext: { runAsUser: 1000 } }] }, 'spec'), [], 'a pod uid 65532 no container inherits is fine')
})

t.test('annotations: provider, port, path, aggregator, transport, profile', async (t) => {
  const r = injectPodSpec({ containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80 }, { containerPort: 9000 }] }] }, { ...on, [ANNOTATION.provider]: 'Docs-Search', [ANNOTATION.port]: '9000', [ANNOTATION.path]: 'rpc', [ANNOTATION.aggregator]: 'https://agg.example.internal:8443' }, o, at)
  t.strictSame(r.refusals, [])
  t.equal(r.provider, 'docs-search')
  const p = (r.config!.providers as Obj)['docs-search']
  t.equal(p.endpoint, 'http://127.0.0.1:9000/rpc')
  t.equal((r.config!.aggregator as Obj).url, 'https://agg.example.internal:8443')
  const bad: Array<[Record<string, string>, Obj, string, RegExp]> = [
    [{ [ANNOTATION.port]: '70000' }, base(), ANNOTATION.port, /not a port number/],
    [{ [ANNOTATION.port]: String(K8S_PORTS.admin) }, base(), ANNOTATION.port, /port of the sidecar/],
    [{}, { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80 }, { containerPort: 81 }] }] }, ANNOTATION.port, /several TCP ports \(80, 81\)/],
    [{}, { containers: [{ name: 'a', image: 'x' }] }, ANNOTATION.port, /no MCP port/],
    [{ [ANNOTATION.provider]: 'bad_name!' }, base(), ANNOTATION.provider, /not a provider name/],
    [{ [ANNOTATION.profile]: 'no-such' }, base(), ANNOTATION.profile, /not a built-in profile/],
    [{ [ANNOTATION.aggregator]: 'file:///etc/passwd' }, base(), ANNOTATION.aggregator, /not an http\(s\) URL/],
    [{ [ANNOTATION.transport]: 'grpc' }, base(), ANNOTATION.transport, /expected http or stdio/],
    [{ [ANNOTATION.transport]: 'stdio' }, base(), ANNOTATION.transport, /not injected yet/],
  ]
  for (const [a, spec, key, message] of bad) {
    const x = injectPodSpec(spec, { ...on, ...a }, o, at)
    t.match(x.refusals, [{ path: `metadata.annotations.${key}`, message }], `${key}=${JSON.stringify(a)}`)
  }
  t.match(injectPodSpec(base(), on, o, { spec: 'spec', metadata: 'metadata' }).refusals, [{ path: `metadata.annotations.${ANNOTATION.provider}`, message: /no provider name/ }], 'no workload name and no annotation')
})

t.test('idempotent: injecting the result again gives the same template, without a note', async (t) => {
  const a = injectPodSpec(base(), { ...on, [ANNOTATION.profile]: 'fetch' }, o, at)
  const b = injectPodSpec(a.spec, a.annotations, o, at)
  t.strictSame(b.spec, a.spec)
  t.strictSame(b.annotations, a.annotations)
  t.strictSame(b.notes, [])
  t.equal(templateDigest(a.spec, a.annotations), a.annotations[ANNOTATION.injected])
})

t.test('hand edits are noticed: a weakened sidecar is rebuilt, a provider edit is kept and checked again', async (t) => {
  const a = injectPodSpec(base(), on, o, at)
  const weakened = structuredClone(a.spec) as Obj
  weakened.initContainers[1].securityContext.runAsUser = 0
  weakened.initContainers[1].securityContext.capabilities = { add: ['NET_ADMIN'] }
  const b = injectPodSpec(weakened, a.annotations, o, at)
  t.match(b.notes, [/edited after injection/])
  t.strictSame(b.refusals, [], 'the generated containers are ours: rebuilt, not refused')
  t.strictSame(b.spec, a.spec, 'the sidecar is back as generated')
  const edited = structuredClone(a.spec) as Obj
  edited.containers[0].image = 'example/mcp:2'
  const c = injectPodSpec(edited, a.annotations, o, at)
  t.match(c.notes, [/edited after injection/])
  t.equal((c.spec.containers as Obj[])[0]!.image, 'example/mcp:2')
  const d = injectPodSpec(c.spec, c.annotations, o, at)
  t.strictSame(d.notes, [], 'the re-injected template carries a fresh digest')
  const evil = structuredClone(a.spec) as Obj
  evil.containers[0].securityContext.capabilities = { add: ['NET_ADMIN'] }
  t.match(injectPodSpec(evil, a.annotations, o, at).refusals, [{ path: 'spec.containers[0].securityContext.capabilities.add[0]' }])
  const annotationEdit = injectPodSpec(a.spec, { ...a.annotations, [ANNOTATION.profile]: 'fetch' }, o, at)
  t.match(annotationEdit.notes, [/edited after injection/], 'an annotation changed after injection counts too')
  t.equal((annotationEdit.config!.providers as Obj).fetch.profile, 'fetch')
})

/**
 * The kubelet's expansion of `env[].value` as the Container API reference states it: `$(NAME)` of a
 * variable defined earlier in the list is replaced, `$$` becomes `$`, anything else stays.
 */
function kubeletExpand(value: string, earlier: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => (m === '$$' ? '$' : name !== undefined && name in earlier ? earlier[name]! : m))
}

t.test('the sidecar runs with --isolation k8s; configFrom configmap (the default) mounts the ConfigMap', async (t) => {
  const dflt = injectPodSpec(base(), on, o, at)
  const explicit = injectPodSpec(base(), on, { ...o, configFrom: 'configmap' }, at)
  t.strictSame(explicit.spec, dflt.spec, 'configmap is the default')
  const sidecar = (dflt.spec.initContainers as Obj[])[1]!
  t.strictSame(sidecar.args, ['sidecar', '-c', '/etc/mcp-hangar/hangar.yaml', '--provider', 'fetch', '--isolation', 'k8s'])
  t.match(sidecar.volumeMounts, [{ name: 'mcp-hangar-config', mountPath: '/etc/mcp-hangar', readOnly: true }])
  t.equal(dflt.configMapName, 'mcp-hangar-fetch')
  t.notOk((sidecar.env as Obj[]).some((e) => e.name === SIDECAR_CONFIG_ENV))
})

t.test('configFrom env: the config text in HANGAR_SIDECAR_CONFIG, no ConfigMap, no config volume; init args unchanged', async (t) => {
  const cm = injectPodSpec(base(), { ...on, [ANNOTATION.profile]: 'fetch' }, o, at)
  const r = injectPodSpec(base(), { ...on, [ANNOTATION.profile]: 'fetch' }, { ...o, configFrom: 'env' }, at)
  t.strictSame(r.refusals, [])
  t.equal(r.configMapName, undefined, 'no ConfigMap to create')
  const [init, sidecar] = r.spec.initContainers as Obj[]
  t.strictSame(init!.args, (cm.spec.initContainers as Obj[])[0]!.args, 'the init container takes flags only, the same either way')
  t.equal(init!.volumeMounts, undefined)
  t.strictSame(sidecar!.args, ['sidecar', '--config-env', SIDECAR_CONFIG_ENV, '--provider', 'fetch', '--isolation', 'k8s'])
  t.strictSame((sidecar!.volumeMounts as Obj[]).map((m) => m.name), ['mcp-hangar-data', 'mcp-hangar-tmp'], 'no config mount')
  t.strictSame((r.spec.volumes as Obj[]).map((v) => v.name), ['mcp-hangar-data', 'mcp-hangar-tmp', 'mcp-hangar-provider-tmp'], 'no config volume')
  t.notOk(JSON.stringify(r.spec).includes('configMap'), 'no ConfigMap referenced anywhere')
  const env = sidecar!.env as Obj[]
  t.strictSame(env.map((e) => e.name), ['HANGAR_SIGNAL_TOKEN', SIDECAR_CONFIG_ENV])
  const seen = kubeletExpand(env[1]!.value as string, { HANGAR_SIGNAL_TOKEN: 'TOKEN-VALUE' })
  t.equal(seen, stringifyYaml(r.config), 'the container sees the YAML text of the config object')
  t.strictSame(r.config, cm.config, 'the same config either way')
  const cfg = parseConfig(seen, 'env', { HANGAR_SIGNAL_TOKEN: 'x'.repeat(32) })
  t.equal(cfg.config.providers.fetch!.endpoint, 'http://127.0.0.1:3000/mcp')
  t.equal(cfg.config.aggregator?.signal_tokens?.[0], 'x'.repeat(32), 'the token reference survives the kubelet and is resolved by the loader')
  t.doesNotThrow(() => asPod(r.spec, r.annotations))
  const again = injectPodSpec(r.spec, r.annotations, { ...o, configFrom: 'env' }, at)
  t.strictSame(again.spec, r.spec, 'idempotent')
  t.strictSame(again.notes, [])
  const switched = injectPodSpec(cm.spec, cm.annotations, { ...o, configFrom: 'env' }, at)
  t.strictSame(switched.spec, r.spec, 'a template injected with a ConfigMap is re-injected with the env config (the mount goes)')
})

t.test('configFrom env: "$(NAME)" in an annotation reaches the config as text, never expanded by the kubelet (control: unescaped it would be)', async (t) => {
  const path = '/mcp/$(HANGAR_SIGNAL_TOKEN)/$$x'
  const r = injectPodSpec(base(), { ...on, [ANNOTATION.path]: path }, { ...o, configFrom: 'env' }, at)
  t.strictSame(r.refusals, [])
  const value = ((r.spec.initContainers as Obj[])[1]!.env as Obj[])[1]!.value as string
  const seen = kubeletExpand(value, { HANGAR_SIGNAL_TOKEN: 'TOKEN-VALUE' })
  t.notMatch(seen, /TOKEN-VALUE/, 'the token is not put in the config')
  t.equal(seen, stringifyYaml(r.config))
  t.equal(parseConfig(seen, 'env', { HANGAR_SIGNAL_TOKEN: 'x'.repeat(32) }).config.providers.fetch!.endpoint, `http://127.0.0.1:3000${path}`)
  const raw = stringifyYaml(r.config)
  t.match(kubeletExpand(raw, { HANGAR_SIGNAL_TOKEN: 'TOKEN-VALUE' }), /TOKEN-VALUE/, 'control: the same text unescaped would have taken the token')
  t.equal(escapeEnvValue('a$b$$c$(D)'), 'a$$b$$$$c$$(D)')
  t.equal(kubeletExpand(escapeEnvValue('a$b$$c$(D)'), { D: 'no' }), 'a$b$$c$(D)', 'escape then expand is the identity')
})
