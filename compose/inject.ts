/**
 * `mcp-hangar compose inject`: rewrites a Compose file so that every service labelled
 * `mcp.hangar.enabled: "true"` runs behind its own sidecar (docs/compose.md). The file is first
 * read as docker-compose reads it (compose/resolve.ts: YAML 1.1, anchors and merge keys expanded),
 * so every check below sees what Compose will run; a labelled service with a setting that would
 * undo its isolation or reach the host is refused (compose/refusals.ts), and a service name that
 * is not a provider name is mapped to one (compose/provider-name.ts). Per labelled service:
 *
 * - network `hangar_<svc>_internal` (`internal: true`, its own /28, sidecar/subnet.ts): the
 *   provider's only network; the sidecar has the static address `.2` on it;
 * - service `hangar-sidecar-<svc>`: on that network and on the provider's original networks (with
 *   the provider's name as alias there, so its callers reach the sidecar), carrying the provider's
 *   profile; the provider's published ports move to it, retargeted to its MCP ingress;
 * - the provider: on the internal network only, `dns:` the sidecar, the proxy environment
 *   (core/proxy-env.ts), and the hardening of compose/hardening.ts where it sets none itself;
 * - one `hangar-aggregator` service on network `hangar_control` (or `aggregatorUrl` for an existing one).
 *
 * Idempotent: the original definitions of the services it changed are kept under the top-level
 * extension `x-mcp-hangar.originals`, and everything it generated carries the label
 * `mcp.hangar.generated: "true"`; a second run first puts the originals back and drops the
 * generated objects, then injects again, so injecting twice gives the same file. The output is a
 * Compose specification file (no `version:`), which docker-compose ≥ 1.27 (Debian's 1.29) and
 * Compose v2 both read.
 *
 * Pure apart from reading profile files (the `mcp.hangar.profile` label), files named by `extends`,
 * and following symbolic links of host paths (compose/refusals.ts).
 */
import { createHash } from 'node:crypto'
import { dirname, resolve } from 'node:path'
import { isBareProfileName, loadProfile, mergeCapabilities } from '../config/load.js'
import { proxyEnv } from '../core/proxy-env.js'
import { ConfigError, ERROR_CODES, HangarError, type ConfigIssue } from '../core/errors.js'
import { loadTransient, releaseTransient } from '../core/transient-module.js'
import { isBuiltinProfile } from '../config/builtin-profiles.js'
import { AGGREGATOR_PORT, CONFIG_ENV, CONTAINER_DATA_DIR, CONTAINER_PORTS, aggregatorConfig, containerProxy, sidecarConfig } from '../sidecar/container-config.js'
import { extendedLabels } from './extends.js'
import { harden, type HardeningChange } from './hardening.js'
import { GENERATED, LABEL, isEnabled, isGenerated, isOurLabel, labelIssues, readLabels } from './labels.js'
import { labelFileIssues } from './overrides.js'
import { readExpose, readPort, retargetPort } from './ports.js'
import { providerNames } from './provider-name.js'
import { checkIsolation, reservedRefusals, sharingRefusals, type HostAccessUse } from './refusals.js'
import { parseComposeDocument } from './resolve.js'
import { DEFAULT_SUBNET_POOL, overlaps, ownSubnet, parseIpv4Cidr, pickInternalSubnet, type InternalSubnet, type Ipv4Net } from '../sidecar/subnet.js'

type Yaml = typeof import('yaml')
type Obj = Record<string, unknown>

/** Ports the sidecar's egress listeners use on its internal address; the MCP ingress cannot share them. */
export const SIDECAR_RESERVED_PORTS: readonly number[] = Object.freeze(Object.values(CONTAINER_PORTS))
/** The ingress port used when the provider's MCP port is one of {@link SIDECAR_RESERVED_PORTS}. */
export const FALLBACK_INGRESS_PORT = 8080
/** Name of the generated aggregator service and of the network it shares with the sidecars. */
export const AGGREGATOR_SERVICE = 'hangar-aggregator'
export const CONTROL_NETWORK = 'hangar_control'
/** The first lines of the comment inject puts at the top of its output (replaced, not repeated, on the next run). */
const HEADER = ` Sidecars injected by \`mcp-hangar compose inject\`. Edit the provider services under
 x-mcp-hangar.originals (or the source file) and inject again; generated objects carry the
 label mcp.hangar.generated: "true" and are rebuilt on every run.`

/** The extension key holding the originals. */
export const EXTENSION_KEY = 'x-mcp-hangar'

/** Options of {@link injectCompose}. */
export interface InjectOptions {
  /** The compose file's path: names it in messages; profile paths are relative to its directory. */
  source: string
  /** Image of the generated sidecars. */
  sidecarImage: string
  /** Image of the generated aggregator. */
  aggregatorImage: string
  /** Path of the seccomp profile, as written into the providers' `security_opt`. */
  seccompProfile: string
  /** An AppArmor profile loaded on the host, added to the providers' `security_opt`. Default none. */
  apparmorProfile?: string
  /** Use this aggregator instead of generating one (sidecars reach it over their egress networks). */
  aggregatorUrl?: string
  /** Where the generated aggregator is published on the host (`[IP:]PORT`). Default `127.0.0.1:8000`; empty string = not published. */
  aggregatorPublish?: string
  /** Pool of the internal /28s. Default {@link DEFAULT_SUBNET_POOL}. */
  subnetPool?: string
  /** Compose project name (keys the subnet choice). Default: the file's `name:`, else its directory's name as Compose derives it. */
  projectName?: string
  /** Environment for `${VAR}` in profile files. Default: none set. */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * The directory the output is written to, when not the source's: Compose resolves relative host
   * paths against the directory of the file it runs, so they are checked against both.
   */
  outputDir?: string
}

/** The environment variable of a generated sidecar that lists its provider's host-access grants (JSON). */
export const HOST_ACCESS_ENV = 'HANGAR_HOST_ACCESS'

/** What inject did to one provider, for the summary the CLI prints. */
export interface InjectedProvider {
  /** The Compose service. */
  service: string
  /** Its provider name: the service name, or a valid name mapped from it (compose/provider-name.ts). */
  provider: string
  sidecar: string
  network: string
  subnet: string
  sidecarAddress: string
  /** The provider's MCP port and path, as the sidecar reaches it. */
  endpoint: string
  ingressPort: number
  profile: string | undefined
  hardening: HardeningChange[]
  /** Host access the `mcp.hangar.host-access` label granted (recorded on its sidecar, `HANGAR_HOST_ACCESS`). */
  hostAccess: HostAccessUse[]
}

/** The result of {@link injectCompose}. */
export interface InjectResult {
  text: string
  providers: InjectedProvider[]
  /** Things the user should know (a dropped `version:`, a moved ingress port, …). */
  notes: string[]
}

/** Compose's default project name for a directory: lowercase, only `[a-z0-9_-]` kept. */
export function composeProjectName(dir: string): string {
  const base = resolve(dir).split(/[\\/]/).pop() ?? ''
  return base.toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'default'
}

/** A short digest of a service as injected, to notice hand edits before the next run replaces them. */
function digest(service: unknown): string {
  return createHash('sha256').update(JSON.stringify(service)).digest('hex').slice(0, 16)
}

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

/** Compose interpolates `$` in every string; `$$` is a literal `$`. */
function composeLiteral(s: string): string {
  return s.replace(/\$/g, '$$$$')
}

/** The networks a service is on as names (list or map form); `default` when it names none. */
function serviceNetworks(service: Obj): string[] {
  const n = service.networks
  if (Array.isArray(n)) return n.map(String)
  if (isObj(n)) return Object.keys(n)
  return ['default']
}

function withEnv(environment: unknown, add: Record<string, string>): unknown {
  if (Array.isArray(environment)) {
    const kept = environment.map(String).filter((e) => !(e.split('=')[0]! in add))
    return [...kept, ...Object.entries(add).map(([k, v]) => `${k}=${v}`)]
  }
  return { ...(isObj(environment) ? environment : {}), ...add }
}

function withDependency(dependsOn: unknown, name: string, condition: string): unknown {
  if (Array.isArray(dependsOn)) return Object.fromEntries([...dependsOn.map((d) => [String(d), { condition: 'service_started' }]), [name, { condition }]])
  return { ...(isObj(dependsOn) ? dependsOn : {}), [name]: { condition } }
}

const generatedLabels = (role: string, provider?: string): Obj => ({
  [GENERATED.generated]: 'true',
  [GENERATED.role]: role,
  ...(provider !== undefined && { [GENERATED.provider]: provider }),
})

/** Hardening of the generated sidecar and aggregator (our own images: Node, uid 65532, the same seccomp allowlist). */
function ownHardening(seccompProfile: string): Obj {
  return { read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true', `seccomp=${seccompProfile}`], tmpfs: ['/tmp'], restart: 'unless-stopped' }
}

/** The MCP port of a provider: the label, else its one published (or exposed) container port. */
function mcpPort(name: string, service: Obj, labels: Record<string, string>, issues: ConfigIssue[]): number | undefined {
  const at = `services.${name}`
  const label = labels[LABEL.port]
  if (label !== undefined) {
    const n = Number(label)
    if (Number.isInteger(n) && n > 0 && n < 65536) return n
    issues.push({ path: `${at}.labels.${LABEL.port}`, message: `"${label}" is not a port number` })
    return undefined
  }
  const ports = Array.isArray(service.ports) ? service.ports.map(readPort) : []
  const targets = new Set(ports.map((p) => p.target))
  if (ports.length) {
    if (targets.has(undefined) || targets.size > 1) {
      issues.push({ path: `${at}.ports`, message: `cannot tell which container port serves MCP (${ports.map((p) => p.raw).join(', ')}); set the label ${LABEL.port}` })
      return undefined
    }
    return [...targets][0]
  }
  const exposed = [...new Set(readExpose(service.expose))]
  if (exposed.length === 1 && exposed[0] !== undefined) return exposed[0]
  issues.push({ path: at, message: `no MCP port: publish or expose the one port the provider serves MCP Streamable HTTP on, or set the label ${LABEL.port} (a stdio-only server needs an HTTP bridge in its image; see docs/compose.md)` })
  return undefined
}

function checkPorts(name: string, service: Obj, port: number, issues: ConfigIssue[]): void {
  if (!Array.isArray(service.ports)) return
  service.ports.forEach((entry, i) => {
    const p = readPort(entry)
    if (p.protocol !== 'tcp') issues.push({ path: `services.${name}.ports[${i}]`, message: `"${p.raw}": only TCP (MCP Streamable HTTP) can be published through the sidecar` })
    else if (p.target !== port) issues.push({ path: `services.${name}.ports[${i}]`, message: `"${p.raw}" publishes container port ${p.target ?? '?'}, not the MCP port ${port}: an isolated provider can publish only its MCP port (through the sidecar)` })
  })
}

interface Planned {
  name: string
  provider: string
  hostAccess: HostAccessUse[]
  original: Obj
  labels: Record<string, string>
  port: number
  net: InternalSubnet
  profile?: string
  capabilities?: Obj
}

function planProfile(name: string, labels: Record<string, string>, o: InjectOptions, issues: ConfigIssue[]): { profile?: string; capabilities?: Obj } {
  const ref = labels[LABEL.profile]?.trim()
  const enforcement = labels[LABEL.enforcement]?.trim()
  let capabilities: Obj | undefined
  let profile: string | undefined
  if (enforcement !== undefined && !['alert', 'block', 'quarantine'].includes(enforcement)) {
    issues.push({ path: `services.${name}.labels.${LABEL.enforcement}`, message: `"${enforcement}": expected alert, block or quarantine` })
  }
  if (ref) {
    try {
      if (isBareProfileName(ref) && isBuiltinProfile(ref)) {
        loadProfile(ref) // validates the built-in this build ships
        profile = ref
      } else {
        capabilities = loadProfile(ref, { baseDir: dirname(resolve(o.source)), env: o.env ?? {}, from: o.source }).capabilities
      }
    } catch (err) {
      const e = err as HangarError
      const detail = e instanceof ConfigError ? e.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : e.message
      issues.push({ path: `services.${name}.labels.${LABEL.profile}`, message: detail })
    }
  }
  if (enforcement && ['alert', 'block', 'quarantine'].includes(enforcement)) capabilities = mergeCapabilities(capabilities ?? {}, { enforcement_mode: enforcement })
  return { ...(profile !== undefined && { profile }), ...(capabilities !== undefined && { capabilities }) }
}

/**
 * Injects sidecars into the Compose file `text` (see the file comment).
 * @throws ConfigError (`HANGAR_CONFIG_INVALID`) naming every service setting that prevents
 *   isolation (`services.x.network_mode`, …) or that inject cannot read, with the fix;
 *   HangarError `HANGAR_USAGE` for a bad option (subnet pool).
 */
export function injectCompose(text: string, o: InjectOptions): InjectResult {
  try {
    return injectOnce(loadTransient<Yaml>('yaml'), text, o)
  } finally {
    releaseTransient('yaml', 'tldts')
  }
}

function injectOnce(Y: Yaml, text: string, o: InjectOptions): InjectResult {
  // Aliases and merge keys expanded, YAML 1.1 scalars: what docker-compose reads.
  const doc = parseComposeDocument(Y, text, o.source)
  const notes: string[] = []
  let js = doc.toJS() as unknown
  if (!isObj(js) || !isObj(js.services)) throw new ConfigError(o.source, [{ path: 'services', message: 'a Compose file needs a "services" mapping' }])

  // 1. Undo an earlier injection: the originals back, the generated objects out.
  const ext = js[EXTENSION_KEY]
  /** The provider services as the earlier injection left them (to tell whether someone edited them since). */
  if (isObj(ext) && isObj(ext.originals)) {
    const digests = isObj(ext.digests) ? ext.digests : {}
    for (const name of Object.keys(ext.originals)) {
      if (digests[name] !== undefined && digests[name] !== digest((js.services as Obj)[name])) {
        notes.push(`services.${name} differed from its injected form (edited after injection?): it was rebuilt from ${EXTENSION_KEY}.originals.${name}; make lasting changes there or in the source file`)
      }
      doc.setIn(['services', name], doc.getIn([EXTENSION_KEY, 'originals', name], true))
    }
  }
  doc.delete(EXTENSION_KEY)
  for (const section of ['services', 'networks', 'volumes'] as const) {
    const m = (doc.toJS() as Obj)[section]
    if (!isObj(m)) continue
    for (const [k, v] of Object.entries(m)) if (isObj(v) && isGenerated(v.labels)) doc.deleteIn([section, k])
    const left = (doc.toJS() as Obj)[section]
    if (section !== 'services' && isObj(left) && Object.keys(left).length === 0) doc.delete(section)
  }
  js = doc.toJS() as Obj
  const file = js as Obj
  const services = file.services as Obj

  // 2. Plan every labelled service; collect every problem before failing.
  const issues: ConfigIssue[] = []
  const pool = o.subnetPool ?? DEFAULT_SUBNET_POOL
  try {
    parseIpv4Cidr(pool)
  } catch (err) {
    throw new HangarError(ERROR_CODES.USAGE, `--subnet-pool: ${(err as Error).message}`)
  }
  const project = o.projectName ?? (typeof file.name === 'string' && file.name ? file.name : composeProjectName(dirname(resolve(o.source))))
  const taken: Ipv4Net[] = []
  for (const n of Object.values(isObj(file.networks) ? file.networks : {})) {
    const cfg = isObj(n) && isObj(n.ipam) && Array.isArray(n.ipam.config) ? n.ipam.config : []
    for (const c of cfg) {
      if (isObj(c) && typeof c.subnet === 'string') {
        try {
          taken.push(parseIpv4Cidr(c.subnet))
        } catch {
          // IPv6 or malformed: not ours to judge
        }
      }
    }
  }
  const baseDir = dirname(resolve(o.source))
  const extendsCache = new Map<string, Obj>()
  for (const [n, svc] of Object.entries(services)) {
    if (!isObj(svc)) {
      issues.push({ path: `services.${n}`, message: 'a service must be a mapping' })
      continue
    }
    issues.push(...labelIssues(n, svc.labels))
    for (const where of ['deploy', 'build'] as const) {
      const misplaced = Object.keys(readLabels(isObj(svc[where]) ? (svc[where] as Obj).labels : undefined)).filter(isOurLabel)
      if (misplaced.length) issues.push({ path: `services.${n}.${where}.labels`, message: `${misplaced.join(', ')}: mcp-hangar reads its labels from the service's own labels; move them there` })
    }
    if (svc.label_file !== undefined) issues.push(...labelFileIssues(n, svc.label_file, baseDir))
    if (svc.extends === undefined || isEnabled(readLabels(svc.labels))) continue
    try {
      const inherited = Object.keys(extendedLabels(Y, n, services, resolve(o.source), extendsCache)).filter((k) => k.startsWith('mcp.hangar.') && !(k in readLabels(svc.labels)))
      if (inherited.length) issues.push({ path: `services.${n}.extends`, message: `the extended service carries ${inherited.join(', ')}, which Compose merges into this one; write the settings into this service instead of extending` })
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      issues.push(...err.issues)
    }
  }
  const names = Object.keys(services).filter((n) => isObj(services[n]) && isEnabled(readLabels((services[n] as Obj).labels)))
  const providerOf = providerNames(names, Object.keys(services))
  for (const reserved of [AGGREGATOR_SERVICE, ...names.map((n) => `hangar-sidecar-${providerOf.get(n)!}`)]) {
    if (reserved in services) issues.push({ path: `services.${reserved}`, message: 'this name is reserved for a service mcp-hangar generates; rename the service' })
  }
  issues.push(...sharingRefusals(services, new Set(names)), ...reservedRefusals(file))
  const planned: Planned[] = []
  // Own subnets first, so that pool picks avoid them.
  const ownNets = new Map<string, InternalSubnet>()
  for (const name of names) {
    const s = services[name] as Obj
    const labels = readLabels(s.labels)
    const own = labels[LABEL.subnet]?.trim()
    if (!own) continue
    try {
      const net = ownSubnet(own)
      const parsed = parseIpv4Cidr(net.subnet)
      if (taken.some((t) => overlaps(t, parsed))) {
        issues.push({ path: `services.${name}.labels.${LABEL.subnet}`, message: `${own} overlaps another network of this file` })
      }
      taken.push(parsed)
      ownNets.set(name, net)
    } catch (err) {
      issues.push({ path: `services.${name}.labels.${LABEL.subnet}`, message: (err as Error).message })
    }
  }
  for (const name of names) {
    const s = services[name] as Obj
    const labels = readLabels(s.labels)
    const isolation = checkIsolation(name, s, labels, { file, baseDir, ...(o.outputDir && { otherDirs: [resolve(o.outputDir)] }) })
    issues.push(...isolation.refusals)
    const port = mcpPort(name, s, labels, issues)
    if (port !== undefined) checkPorts(name, s, port, issues)
    const prof = planProfile(name, labels, o, issues)
    let net = ownNets.get(name)
    if (!net && !labels[LABEL.subnet]?.trim()) {
      try {
        net = pickInternalSubnet(`${project}/${name}`, taken, pool)
        taken.push(parseIpv4Cidr(net.subnet))
      } catch (err) {
        issues.push({ path: `services.${name}`, message: (err as Error).message })
      }
    }
    if (port !== undefined && net) planned.push({ name, provider: providerOf.get(name)!, hostAccess: isolation.granted, original: s, labels, port, net, ...prof })
  }
  if (issues.length) throw new ConfigError(o.source, issues)
  if (!names.length) notes.push(`no service is labelled ${LABEL.enabled}: "true"; nothing to inject`)

  // 3. Rewrite.
  if (planned.length) {
    if (file.version !== undefined) {
      doc.delete('version')
      notes.push(`dropped "version: ${String(file.version)}": the output is a Compose specification file (docker-compose ≥ 1.27, Compose v2)`)
    }
    // Sections inject adds to are made plain mappings first (setIn would make a YAML 1.1 !!omap).
    for (const section of ['networks', 'volumes']) {
      const cur = doc.get(section, true)
      if (cur === undefined || (Y.isScalar(cur) && cur.value === null)) doc.set(section, doc.createNode({}))
      else if (!Y.isMap(cur)) throw new ConfigError(o.source, [{ path: section, message: 'must be a mapping' }])
    }
    const originals: Obj = {}
    const digests: Obj = {}
    for (const p of planned) originals[p.name] = doc.getIn(['services', p.name], true)
    const generateAggregator = o.aggregatorUrl === undefined
    const aggregatorUrl = o.aggregatorUrl ?? `http://${AGGREGATOR_SERVICE}:${AGGREGATOR_PORT}`
    const providers: InjectedProvider[] = []
    for (const p of planned) {
      const sidecarName = `hangar-sidecar-${p.provider}`
      const network = `hangar_${p.provider}_internal`
      const ingressPort = SIDECAR_RESERVED_PORTS.includes(p.port) ? FALLBACK_INGRESS_PORT : p.port
      if (ingressPort !== p.port) notes.push(`${p.name}: its MCP port ${p.port} is one the sidecar's egress listeners use; the sidecar serves MCP on ${ingressPort} instead (callers on the Compose network must use that port)`)
      if (p.provider !== p.name) notes.push(`${p.name}: not a valid provider name (letters, digits, "-", "_", at most 63); its provider name is ${p.provider} (recorded in ${EXTENSION_KEY}.providers and on its sidecar)`)
      for (const g of p.hostAccess) notes.push(`${p.name}: host access granted by ${LABEL.hostAccess} (${g.grant}): ${g.path}; recorded on its sidecar (${HOST_ACCESS_ENV})`)
      const path = p.labels[LABEL.path]?.trim() || '/mcp'
      const endpoint = `http://hangar-provider-${p.provider}:${p.port}${path.startsWith('/') ? path : `/${path}`}`

      // the provider
      const { service: hardened, added } = harden(p.original, p.labels, { seccompProfile: o.seccompProfile, ...(o.apparmorProfile && { apparmorProfile: o.apparmorProfile }) })
      const provider: Obj = { ...hardened }
      delete provider.ports
      if (provider.dns !== undefined) notes.push(`${p.name}: its dns setting is replaced by the sidecar's address`)
      provider.networks = { [network]: { aliases: [`hangar-provider-${p.provider}`] } }
      provider.dns = [p.net.sidecar]
      provider.environment = withEnv(provider.environment, proxyEnv(containerProxy(p.net.sidecar)))
      provider.depends_on = withDependency(provider.depends_on, sidecarName, 'service_healthy')
      doc.setIn(['services', p.name], doc.createNode(provider))
      digests[p.name] = digest(provider)

      // its sidecar
      const hostAccess = p.hostAccess.length ? composeLiteral(JSON.stringify(p.hostAccess)) : undefined
      const config = sidecarConfig({
        provider: p.provider, endpoint, ingressPort, net: p.net, aggregatorUrl,
        ...(p.profile !== undefined && { profile: p.profile }),
        ...(p.capabilities !== undefined && { capabilities: p.capabilities }),
      })
      const egressNets = serviceNetworks(p.original)
      const sidecarNetworks: Obj = { [network]: { ipv4_address: p.net.sidecar } }
      for (const n of egressNets) sidecarNetworks[n] = { aliases: [p.name] }
      if (generateAggregator) sidecarNetworks[CONTROL_NETWORK] = {}
      const sidecar: Obj = {
        image: o.sidecarImage,
        command: ['sidecar', '-c', `env:${CONFIG_ENV}`, '--provider', p.provider],
        environment: {
          [CONFIG_ENV]: composeLiteral(Y.stringify(config, { lineWidth: 0 })),
          HANGAR_SIGNAL_TOKEN: '${HANGAR_SIGNAL_TOKEN:?set HANGAR_SIGNAL_TOKEN, the token sidecars present to the aggregator}',
          ...(hostAccess && { [HOST_ACCESS_ENV]: hostAccess }),
        },
        ...(p.original.profiles !== undefined && { profiles: p.original.profiles }),
        networks: sidecarNetworks,
        ...(Array.isArray(p.original.ports) && p.original.ports.length && { ports: p.original.ports.map((e) => retargetPort(e, ingressPort)) }),
        volumes: [`hangar_${p.provider}_data:${CONTAINER_DATA_DIR}`],
        ...ownHardening(o.seccompProfile),
        // binds 53, 80 and 443 as a non-root user without CAP_NET_BIND_SERVICE
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': 0 },
        healthcheck: {
          test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:9901/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"],
          interval: '5s', timeout: '3s', retries: 12,
        },
        labels: { ...generatedLabels('sidecar', p.provider), [GENERATED.service]: p.name, ...(hostAccess && { [GENERATED.hostAccess]: hostAccess }) },
      }
      doc.setIn(['services', sidecarName], doc.createNode(sidecar))
      doc.setIn(['networks', network], doc.createNode({
        internal: true,
        // no address on the host's end of the bridge: the provider cannot reach the host at all
        driver_opts: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
        ipam: { config: [{ subnet: p.net.subnet, ip_range: p.net.ipRange, gateway: p.net.gateway }] },
        labels: generatedLabels('internal', p.provider),
      }))
      doc.setIn(['volumes', `hangar_${p.provider}_data`], doc.createNode({ labels: generatedLabels('data', p.provider) }))
      for (const n of egressNets) {
        if (n === 'default') continue
        const declared = (file.networks as Obj | undefined)?.[n]
        if (declared === undefined) issues.push({ path: `services.${p.name}.networks.${n}`, message: 'network not declared under the top-level "networks"' })
        else if (isObj(declared) && (declared.internal === true || declared.internal === 'true')) notes.push(`${p.name}: its network ${n} is internal; the sidecar's egress through it reaches only that network`)
      }
      providers.push({
        service: p.name, provider: p.provider, hostAccess: p.hostAccess, sidecar: sidecarName, network, subnet: p.net.subnet, sidecarAddress: p.net.sidecar, endpoint, ingressPort,
        profile: p.labels[LABEL.profile], hardening: added,
      })
    }
    if (issues.length) throw new ConfigError(o.source, issues)
    if (generateAggregator) {
      const publish = o.aggregatorPublish ?? `127.0.0.1:${AGGREGATOR_PORT}`
      doc.setIn(['services', AGGREGATOR_SERVICE], doc.createNode({
        image: o.aggregatorImage,
        command: ['aggregator', '-c', `env:${CONFIG_ENV}`],
        environment: {
          [CONFIG_ENV]: composeLiteral(Y.stringify(aggregatorConfig(), { lineWidth: 0 })),
          HANGAR_SIGNAL_TOKEN: '${HANGAR_SIGNAL_TOKEN:?set HANGAR_SIGNAL_TOKEN, the token sidecars present to the aggregator}',
          HANGAR_ADMIN_TOKEN: '${HANGAR_ADMIN_TOKEN:?set HANGAR_ADMIN_TOKEN, the token for the aggregator API and its MCP tools}',
        },
        networks: [CONTROL_NETWORK],
        ...(publish && { ports: [`${publish}:${AGGREGATOR_PORT}`] }),
        volumes: [`hangar_aggregator_data:${CONTAINER_DATA_DIR}`],
        ...ownHardening(o.seccompProfile),
        labels: generatedLabels('aggregator'),
      }))
      doc.setIn(['networks', CONTROL_NETWORK], doc.createNode({ labels: generatedLabels('control') }))
      doc.setIn(['volumes', 'hangar_aggregator_data'], doc.createNode({ labels: generatedLabels('data') }))
    }
    const mapping = Object.fromEntries(planned.map((p) => [p.name, p.provider]))
    doc.set(EXTENSION_KEY, doc.createNode({ version: 1, providers: mapping, originals, digests }))
    // The header of an earlier run comes back as the document's comment or, when another comment
    // follows it, as the first key's; either way it is replaced, not repeated.
    const strip = (c: string | null | undefined) => (c?.startsWith(HEADER) ? c.slice(HEADER.length).replace(/^\n+/, '') : c) || undefined
    const contents = doc.contents as { commentBefore?: string | null; items?: Array<{ key?: { commentBefore?: string | null } }> } | null
    for (const holder of [contents, contents?.items?.[0]?.key]) {
      if (!holder) continue
      const rest = strip(holder.commentBefore)
      if (rest === undefined) delete holder.commentBefore
      else holder.commentBefore = rest
    }
    const own = strip(doc.commentBefore)
    doc.commentBefore = own ? `${HEADER}\n${own}` : HEADER
    return { text: doc.toString({ lineWidth: 0 }), providers, notes }
  }
  return { text: doc.toString({ lineWidth: 0 }), providers: [], notes }
}
