/**
 * The settings of a Compose service that would undo its isolation behind a sidecar, read as
 * Compose reads them (after compose/resolve.ts has expanded anchors and merge keys).
 *
 * Two kinds:
 * - refused outright: `network_mode`, `privileged`, capabilities that let a process change its
 *   network or leave its container, `links`/`external_links`, `volumes_from`, and any of the
 *   settings below written with a Compose variable (its value is known only when Compose runs);
 * - host access, refused unless the label `mcp.hangar.host-access` grants it by name (see
 *   {@link HOST_ACCESS_GRANTS}): sharing a host or another container's namespace (`pid`, `ipc`,
 *   `uts`, `userns_mode`, `cgroup`), devices (`devices`, `device_cgroup_rules`, `gpus`, device
 *   reservations), `sysctls`, `security_opt` that switch a confinement off (`seccomp=unconfined`,
 *   `apparmor=unconfined`, `label=disable`, `label=type:spc_t`, `systempaths=unconfined`, a seccomp
 *   profile file here whose default action allows), and host paths that hand over the host:
 *   container-runtime sockets (Docker, containerd, Podman, CRI-O, BuildKit) and other Unix sockets
 *   wherever they are, `/`, `/proc`, `/sys`, `/dev`, `/etc`, `/run`, `/var/run`, `/boot`,
 *   `/var/lib/docker`, `/var/lib/containerd`, `/tmp/.X11-unix`, anything under them, and any
 *   directory holding one of these. Host paths
 *   are found in short and long `volumes` (relative paths and `~` resolved against the Compose
 *   file as docker-compose does, symbolic links followed where the path exists here), named
 *   volumes whose top-level definition binds a host directory (`driver_opts.device`), `secrets`
 *   and `configs` read from a `file:`, and `env_file` (Compose reads it on the host and hands its
 *   lines to the container).
 *
 * Pure apart from looking at host paths that exist on this machine (symbolic links, sockets) and
 * reading seccomp profile files named in `security_opt`.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { posix } from 'node:path'
import { literal } from './interpolate.js'
import { LABEL } from './labels.js'

type Obj = Record<string, unknown>

/** A reason the service cannot be isolated: the Compose path and what to change. */
export interface Refusal {
  path: string
  message: string
}

/** One setting a host-access grant allowed: which grant, where, and what it is. */
export interface HostAccessUse {
  /** The grant token (`pid`, `path:/var/run/docker.sock`, …). */
  grant: string
  /** The Compose path of the setting. */
  path: string
  /** The setting as Compose reads it, e.g. `pid: host`. */
  setting: string
}

/** The kinds of host access `mcp.hangar.host-access` can grant; `path:` takes an absolute host path. */
export const HOST_ACCESS_GRANTS = Object.freeze(['pid', 'ipc', 'uts', 'userns', 'cgroup', 'devices', 'sysctls', 'unconfined', 'path:'] as const)

/**
 * Capabilities that let a provider change its own network or leave its container: `NET_ADMIN`
 * (routes and addresses: with them a container on an internal network reaches the host's
 * addresses), `SYS_ADMIN` (mount, namespaces), `SYS_MODULE`, `SYS_PTRACE`, `BPF`, `PERFMON`,
 * `DAC_READ_SEARCH` (`open_by_handle_at`, the "shocker" escape), `SYS_RAWIO`, `MAC_ADMIN`,
 * `MAC_OVERRIDE` (the LSM confinement), `SYSLOG`, `SYS_BOOT`, and `ALL`.
 */
export const ISOLATION_BREAKING_CAPS = Object.freeze([
  'ALL', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'BPF', 'PERFMON', 'DAC_READ_SEARCH', 'SYS_RAWIO', 'MAC_ADMIN', 'MAC_OVERRIDE', 'SYSLOG', 'SYS_BOOT',
])

/** Host directories that hand over the host when mounted into a container (and every directory above them). */
export const SENSITIVE_HOST_PATHS = Object.freeze(['/', '/proc', '/sys', '/dev', '/etc', '/run', '/var/run', '/boot', '/var/lib/docker', '/var/lib/containerd', '/tmp/.X11-unix'])

/** Socket file names of container runtimes (Docker, containerd, Podman, CRI-O, BuildKit, dockershim), wherever they are. */
const RUNTIME_SOCKET = /^(docker|containerd|podman|crio|cri-dockerd|dockershim|buildkitd)(-[a-z]+)?\.sock$/i

/** The namespace settings and the values that keep the service's own namespace. */
const NAMESPACES: ReadonlyArray<{ key: string; grant: string; own: readonly string[] }> = [
  { key: 'pid', grant: 'pid', own: [''] },
  { key: 'ipc', grant: 'ipc', own: ['', 'private', 'shareable', 'none'] },
  { key: 'uts', grant: 'uts', own: [''] },
  { key: 'userns_mode', grant: 'userns', own: [''] },
  { key: 'cgroup', grant: 'cgroup', own: ['', 'private'] },
]

/** `security_opt` values that switch a confinement off (normalised: lower case, no spaces, `:` as `=`). */
const UNCONFINED = /^(seccomp=unconfined|apparmor=unconfined|label=disable|label=type=spc_t|systempaths=unconfined)$/

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

/** Where a service's settings and the file's top-level definitions are read. */
export interface RefusalContext {
  /** The whole Compose file (top-level `volumes`, `secrets`, `configs`). */
  file: Obj
  /** The directory relative host paths are resolved against (the Compose file's). */
  baseDir: string
  /**
   * Other directories Compose may resolve them against: the directory the output is written to
   * (Compose resolves against the directory of the file it runs). A relative path that climbs
   * (`../`) is also checked as if it climbed to `/`, where enough `../` lead from any directory.
   */
  otherDirs?: readonly string[]
  /** The home directory `~` stands for. Default: this user's. */
  home?: string
}

/**
 * The host path Compose mounts for `source`: `~` expanded, a relative path resolved against
 * `baseDir` (docker-compose v1 `resolve_volume_path`), normalised.
 */
export function hostPath(source: string, baseDir: string, home: string = homedir()): string {
  const expanded = source === '~' ? home : source.startsWith('~/') ? posix.join(home, source.slice(2)) : source
  return posix.resolve(baseDir, expanded)
}

/**
 * Why mounting the host path `p` would hand over the host, or undefined when it would not: a
 * container-runtime socket, any other Unix socket (named `*.sock`/`*.socket`, or a socket here: a
 * channel to a host service that bypasses the sidecar), one of {@link SENSITIVE_HOST_PATHS} or a
 * directory below it, or a directory holding one of them. Symbolic links are followed where the
 * path exists here.
 */
export function sensitiveHostPath(p: string): string | undefined {
  const candidates = [posix.normalize(p)]
  try {
    const real = realpathSync(p)
    if (real !== candidates[0]) candidates.push(real)
  } catch {
    // not on this machine: judged by its name
  }
  for (const c of candidates) {
    if (RUNTIME_SOCKET.test(posix.basename(c))) return `${c} is a container runtime's socket: whoever can reach it controls the host`
    if (/\.(sock|socket)$/i.test(c) || isSocket(c)) return `${c} is a Unix socket: the provider could talk to a host service around its sidecar`
    for (const s of SENSITIVE_HOST_PATHS) {
      const under = s === '/' ? c === '/' : c === s || c.startsWith(`${s}/`)
      const above = c === '/' || s.startsWith(`${c}/`)
      if (under || above) return `${c} ${under ? `is ${c === s ? '' : 'under '}${s}` : `holds ${s}`}: mounting it exposes the host`
    }
  }
  return undefined
}

function isSocket(p: string): boolean {
  try {
    return statSync(p).isSocket()
  } catch {
    return false
  }
}

/** Refusals and granted host access of one service. */
export interface IsolationCheck {
  refusals: Refusal[]
  /** The host access the label granted and the service uses (recorded on its sidecar, `HANGAR_HOST_ACCESS`). */
  granted: HostAccessUse[]
}

/** Reads a string setting as Compose will use it; a variable gives a refusal. */
class Reader {
  readonly refusals: Refusal[] = []
  readonly uses: HostAccessUse[] = []
  constructor(readonly name: string) {}
  at(k: string): string {
    return `services.${this.name}.${k}`
  }
  refuse(k: string, message: string): void {
    this.refusals.push({ path: this.at(k), message })
  }
  /** The literal value, or undefined (refused) when it holds a variable. */
  str(k: string, v: unknown): string | undefined {
    const s = typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v)
    const l = literal(s)
    if (l === undefined) this.refuse(k, `"${s}": a variable here is known only when Compose runs, so isolation cannot be checked; write the value`)
    return l
  }
  list(k: string, v: unknown): unknown[] {
    if (v === undefined || v === null) return []
    if (Array.isArray(v)) return v
    this.refuse(k, 'must be a list')
    return []
  }
  use(grant: string, k: string, setting: string): void {
    this.uses.push({ grant, path: this.at(k), setting })
  }
  /** Records the host path `source` (as Compose may resolve it) when it is sensitive. */
  path(k: string, source: string, ctx: RefusalContext, what: string): void {
    const relative = !source.startsWith('/') && !source.startsWith('~')
    const bases = relative ? [ctx.baseDir, ...(ctx.otherDirs ?? []), ...(source.startsWith('..') ? ['/'] : [])] : [ctx.baseDir]
    for (const base of new Set(bases)) {
      const p = hostPath(source, base, ctx.home)
      const why = sensitiveHostPath(p)
      if (why) {
        this.uses.push({ grant: `path:${p}`, path: this.at(k), setting: `${what} ${why}${base === ctx.baseDir ? '' : ` (resolved from ${base})`}` })
        return
      }
    }
  }
}

function checkVolumes(r: Reader, service: Obj, ctx: RefusalContext): void {
  const topVolumes = isObj(ctx.file.volumes) ? ctx.file.volumes : {}
  const named = (k: string, volName: string) => {
    const def = topVolumes[volName]
    if (!isObj(def) || !isObj(def.driver_opts)) return
    const device = def.driver_opts.device
    if (device === undefined) return
    const d = literal(String(device))
    if (d === undefined) return r.refuse(k, `volume ${volName}: its driver_opts.device is a variable, known only when Compose runs; write the path`)
    // the local driver mounts an absolute device or directory of the host (o: bind, or a block device)
    if (d.startsWith('/')) r.path(k, d, ctx, `volume ${volName} mounts the host's ${d}:`)
  }
  r.list('volumes', service.volumes).forEach((entry, i) => {
    const k = `volumes[${i}]`
    if (typeof entry === 'string') {
      const s = r.str(k, entry)
      if (s === undefined) return
      const parts = s.split(':')
      if (parts.length < 2) return // an anonymous volume
      const source = parts[0]!
      if (/^[.~/]/.test(source)) r.path(k, source, ctx, `"${s}":`)
      else named(k, source)
      return
    }
    if (!isObj(entry)) return r.refuse(k, 'a volume is a "source:target[:mode]" string or a mapping with type, source and target')
    const type = r.str(`${k}.type`, entry.type ?? '')
    const source = entry.source === undefined ? '' : r.str(`${k}.source`, entry.source)
    if (type === undefined || source === undefined) return
    if (type === 'bind') r.path(k, source, ctx, `bind ${source}:`)
    else if (type === 'volume' && source) named(k, source)
    else if (type === 'npipe') r.use(`path:${source}`, k, `npipe ${source}: a host named pipe (the Docker engine's on Windows)`)
  })
  for (const section of ['secrets', 'configs'] as const) {
    const defs = isObj(ctx.file[section]) ? (ctx.file[section] as Obj) : {}
    r.list(section, service[section]).forEach((entry, i) => {
      const k = `${section}[${i}]`
      const ref = typeof entry === 'string' ? entry : isObj(entry) ? entry.source : undefined
      const def = typeof ref === 'string' ? defs[ref] : undefined
      if (!isObj(def) || def.file === undefined) return
      const f = literal(String(def.file))
      if (f === undefined) return r.refuse(k, `${section}.${String(ref)}.file is a variable, known only when Compose runs; write the path`)
      r.path(k, f, ctx, `${section.slice(0, -1)} ${String(ref)} is read from the host file ${f}:`)
    })
  }
  const envFiles = typeof service.env_file === 'string' ? [service.env_file] : r.list('env_file', service.env_file)
  envFiles.forEach((entry, i) => {
    const k = typeof service.env_file === 'string' ? 'env_file' : `env_file[${i}]`
    const p = isObj(entry) ? entry.path : entry
    const s = r.str(k, p)
    if (s) r.path(k, s, ctx, `env_file ${s} (Compose hands its lines to the container):`)
  })
}

/**
 * Why the service `name` cannot be put behind a sidecar, and which host access its
 * `mcp.hangar.host-access` label grants (see the file comment). `labels` are the service's labels
 * as compose/labels.ts reads them.
 */
export function checkIsolation(name: string, service: Obj, labels: Record<string, string>, ctx: RefusalContext): IsolationCheck {
  const r = new Reader(name)
  if (service.network_mode !== undefined && service.network_mode !== null) {
    r.refuse('network_mode', `"${String(service.network_mode)}": a provider with a network_mode cannot be put on its own network behind a sidecar; remove network_mode`)
  }
  const priv = service.privileged
  if (priv !== undefined && priv !== null && priv !== false) {
    const s = r.str('privileged', priv)
    if (s !== undefined && !/^(false|no|off|0)$/i.test(s.trim())) r.refuse('privileged', 'a privileged container can undo its network isolation; remove privileged')
  }
  const caps = r.list('cap_add', service.cap_add).map((c, i) => r.str(`cap_add[${i}]`, c))
  const bad = caps.filter((c): c is string => c !== undefined).map((c) => c.trim().toUpperCase().replace(/^CAP_/, '')).filter((c) => ISOLATION_BREAKING_CAPS.includes(c))
  if (bad.length) r.refuse('cap_add', `${bad.join(', ')}: these capabilities let a provider change its network or leave its container; remove them`)
  for (const k of ['links', 'external_links']) {
    if (service[k] !== undefined) r.refuse(k, "links would cross the provider's internal network, where only its sidecar is reachable; remove them")
  }
  if (service.volumes_from !== undefined) r.refuse('volumes_from', "it mounts another container's volumes, which inject cannot check; declare the volumes on this service")
  if (service.use_api_socket !== undefined && service.use_api_socket !== false && service.use_api_socket !== null) {
    r.use('path:/var/run/docker.sock', 'use_api_socket', 'use_api_socket: Compose mounts the Docker engine\'s socket, whose holder controls the host')
  }
  if (service.extends !== undefined) r.refuse('extends', 'Compose merges the extended service into this one (labels, privileges, mounts), which inject does not see; write the settings into this service')

  for (const ns of NAMESPACES) {
    const v = service[ns.key]
    if (v === undefined || v === null) continue
    const s = r.str(ns.key, v)
    if (s !== undefined && !ns.own.includes(s.trim().toLowerCase())) r.use(ns.grant, ns.key, `${ns.key}: ${s}`)
  }
  r.list('devices', service.devices).forEach((d, i) => {
    const s = r.str(`devices[${i}]`, isObj(d) ? d.source : d)
    if (s !== undefined) r.use('devices', `devices[${i}]`, `device ${s}`)
  })
  r.list('device_cgroup_rules', service.device_cgroup_rules).forEach((d, i) => r.use('devices', `device_cgroup_rules[${i}]`, `device cgroup rule ${String(d)}`))
  if (service.gpus !== undefined) r.use('devices', 'gpus', 'gpus')
  const reservations = isObj(service.deploy) && isObj(service.deploy.resources) && isObj(service.deploy.resources.reservations) ? service.deploy.resources.reservations : undefined
  if (reservations?.devices !== undefined) r.use('devices', 'deploy.resources.reservations.devices', 'device reservation')
  const sysctls = service.sysctls
  const sysctlNames = Array.isArray(sysctls) ? sysctls.map((x) => String(x).split('=')[0]!) : isObj(sysctls) ? Object.keys(sysctls) : []
  if (sysctls !== undefined && sysctls !== null && !Array.isArray(sysctls) && !isObj(sysctls)) r.refuse('sysctls', 'must be a mapping or a list')
  for (const n of sysctlNames) r.use('sysctls', `sysctls.${n}`, `sysctl ${n}`)
  r.list('security_opt', service.security_opt).forEach((o, i) => {
    const s = r.str(`security_opt[${i}]`, o)
    if (s === undefined) return
    const norm = s.replace(/\s/g, '').toLowerCase().replace(/^([a-z-]+):/, '$1=').replace(/^label=type:/, 'label=type=')
    if (UNCONFINED.test(norm)) r.use('unconfined', `security_opt[${i}]`, `security_opt ${s}`)
    else if (norm.startsWith('seccomp=') && permissiveSeccomp(s.replace(/^\s*seccomp\s*[=:]\s*/i, ''), ctx.baseDir)) {
      r.use('unconfined', `security_opt[${i}]`, `security_opt ${s}: the profile allows every system call it does not name`)
    }
  })
  checkVolumes(r, service, ctx)
  return { refusals: [...r.refusals, ...grantRefusals(r, labels[LABEL.hostAccess])], granted: grantedUses(r, labels[LABEL.hostAccess]) }
}

/**
 * True when the seccomp profile file `p` (relative to `baseDir`) exists here and allows by default
 * (`defaultAction` `SCMP_ACT_ALLOW` or `SCMP_ACT_LOG`): as good as `seccomp=unconfined`. A file
 * that is not here is judged where it is used.
 */
function permissiveSeccomp(p: string, baseDir: string): boolean {
  try {
    const profile = JSON.parse(readFileSync(posix.resolve(baseDir, p), 'utf8')) as { defaultAction?: unknown }
    return profile.defaultAction === 'SCMP_ACT_ALLOW' || profile.defaultAction === 'SCMP_ACT_LOG'
  } catch {
    return false
  }
}

/** Reads `mcp.hangar.host-access`: its grant tokens (paths normalised). */
export function parseGrants(value: string | undefined): { grants: string[]; bad: string[] } {
  const grants: string[] = []
  const bad: string[] = []
  for (const raw of (value ?? '').split(',')) {
    const t = raw.trim()
    if (!t) continue
    if (t.startsWith('path:')) {
      const p = t.slice(5).trim()
      if (p.startsWith('/')) grants.push(`path:${posix.resolve(p)}`)
      else bad.push(t)
    } else if ((HOST_ACCESS_GRANTS as readonly string[]).includes(t)) grants.push(t)
    else bad.push(t)
  }
  return { grants, bad }
}

function grantRefusals(r: Reader, label: string | undefined): Refusal[] {
  const { grants, bad } = parseGrants(label)
  const at = `services.${r.name}.labels.${LABEL.hostAccess}`
  const out: Refusal[] = bad.map((b) => ({ path: at, message: `"${b}" is not a host-access grant (known: pid, ipc, uts, userns, cgroup, devices, sysctls, unconfined, path:/absolute/host/path)` }))
  for (const u of r.uses) {
    if (!grants.includes(u.grant)) {
      out.push({ path: u.path, message: `${u.setting}; this gives the provider access to the host around its sidecar: remove it, or, if the provider truly needs it, grant it with the label ${LABEL.hostAccess}: "${u.grant}" (the grant is recorded on its sidecar)` })
    }
  }
  for (const g of grants) {
    if (!r.uses.some((u) => u.grant === g)) out.push({ path: at, message: `"${g}" grants nothing this service uses; remove it` })
  }
  return out
}

function grantedUses(r: Reader, label: string | undefined): HostAccessUse[] {
  const { grants } = parseGrants(label)
  return r.uses.filter((u) => grants.includes(u.grant))
}

/**
 * Other services that would join a provider's namespaces (`network_mode`, `pid`, `ipc` or `uts`
 * of `service:<provider>`, or `container:<its container_name>`): such a service runs inside the
 * provider's network namespace without the provider's hardening, so, with `NET_ADMIN` or as root,
 * it can change the network the isolation rests on.
 */
export function sharingRefusals(services: Record<string, unknown>, providers: ReadonlySet<string>): Refusal[] {
  const containerNames = new Map<string, string>()
  for (const p of providers) {
    const cn = (services[p] as Obj | undefined)?.container_name
    if (typeof cn === 'string') containerNames.set(cn, p)
  }
  const out: Refusal[] = []
  for (const [name, svc] of Object.entries(services)) {
    if (providers.has(name) || !isObj(svc)) continue
    for (const key of ['network_mode', 'pid', 'ipc', 'uts']) {
      const v = svc[key]
      if (typeof v !== 'string') continue
      const s = literal(v) ?? v
      const m = /^\s*(service|container):\s*(.+?)\s*$/.exec(s)
      const target = m ? (m[1] === 'service' ? (providers.has(m[2]!) ? m[2] : undefined) : containerNames.get(m[2]!)) : undefined
      if (target !== undefined) out.push({ path: `services.${name}.${key}`, message: `"${s}" joins the namespace of ${target}, a provider isolated behind a sidecar, without its hardening; remove it (or put this service behind its own sidecar)` })
      else if (literal(v) === undefined) out.push({ path: `services.${name}.${key}`, message: `"${v}": a variable here could make this service join a provider isolated behind a sidecar; write the value` })
    }
  }
  return out
}

/**
 * Names inject generates, used by the user's own services, networks or volumes: a service on a
 * provider's internal network (`hangar_<provider>_internal`) would be a neighbour the provider can
 * reach around its sidecar; one on `hangar_control` reaches the aggregator's side; a volume
 * `hangar_<provider>_data` holds the sidecar's pins and spool; and a service, container name or
 * network alias `hangar-provider-<provider>` (or `hangar-sidecar-…`, `hangar-aggregator`) on a
 * network the sidecar shares would answer for the provider when the sidecar resolves its upstream.
 * `file` is the Compose file after an earlier injection was undone (generated objects removed).
 */
export function reservedRefusals(file: Record<string, unknown>): Refusal[] {
  const out: Refusal[] = []
  const reservedNet = (n: string) => n === 'hangar_control' || /^hangar_.*_internal$/.test(n)
  const reservedVol = (n: string) => /^hangar_.*_data$/.test(n)
  const reservedHost = (n: string) => /^hangar-(provider|sidecar)-/i.test(n) || n.toLowerCase() === 'hangar-aggregator'
  for (const [section, reserved] of [['networks', reservedNet], ['volumes', reservedVol]] as const) {
    const defs = isObj(file[section]) ? (file[section] as Obj) : {}
    for (const n of Object.keys(defs)) if (reserved(n)) out.push({ path: `${section}.${n}`, message: 'this name is reserved for what mcp-hangar generates; rename it' })
  }
  const services = isObj(file.services) ? (file.services as Obj) : {}
  for (const [name, svc] of Object.entries(services)) {
    if (!isObj(svc)) continue
    if (/^hangar-provider-/i.test(name)) out.push({ path: `services.${name}`, message: 'this name is reserved for the name a sidecar reaches its provider by; rename the service' })
    if (typeof svc.container_name === 'string' && reservedHost(svc.container_name)) out.push({ path: `services.${name}.container_name`, message: 'this name is reserved for what mcp-hangar generates; choose another' })
    const nets = svc.networks
    const entries: Array<[string, unknown]> = Array.isArray(nets) ? nets.map((n) => [String(n), undefined]) : isObj(nets) ? Object.entries(nets) : []
    for (const [n, cfg] of entries) {
      if (reservedNet(n)) out.push({ path: `services.${name}.networks.${n}`, message: 'only mcp-hangar\'s generated services may join this network: on a provider\'s internal network a service is a neighbour the provider reaches around its sidecar; rename the network or leave it' })
      const aliases = isObj(cfg) && Array.isArray(cfg.aliases) ? cfg.aliases.map(String) : []
      for (const a of aliases.filter(reservedHost)) out.push({ path: `services.${name}.networks.${n}.aliases`, message: `"${a}" is reserved: a sidecar resolving its provider could reach this service instead; choose another alias` })
    }
    for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
      const src = typeof v === 'string' ? v.split(':')[0]! : isObj(v) && typeof v.source === 'string' ? v.source : ''
      if (reservedVol(src)) out.push({ path: `services.${name}.volumes`, message: `${src} is reserved for a sidecar's data (pins, spool); mount another volume` })
    }
  }
  if (file.include !== undefined) out.push({ path: 'include', message: 'Compose adds the services of included files when it runs, which inject does not see; merge them first (docker compose config) and inject the result' })
  return out
}
