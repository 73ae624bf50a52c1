/**
 * Kubernetes sidecar injection (`mcp-hangar k8s inject`, and later the admission webhook: one
 * injection function, two front doors). Pure: plain objects in, plain objects out.
 *
 * A pod template opts in with the annotation `mcp.hangar.io/inject: "true"`. It then gets:
 *
 * - the init container `mcp-hangar-init` (`mcp-hangar k8s init`): the only container with
 *   NET_ADMIN and NET_RAW (every other capability dropped) and the only one running as uid 0; it
 *   installs the pod's nftables rules (ports as flags, from the sidecar's config) and exits;
 * - the sidecar `mcp-hangar-sidecar` as a native sidecar (an init container with
 *   `restartPolicy: Always`, Kubernetes ≥ 1.29): it starts, and its startup probe passes, before
 *   the provider's containers run, and it does not keep a Job from completing. uid/gid 65532 (the
 *   uid the pod's nftables rules exempt), no capabilities, read-only root, no privilege
 *   escalation, seccomp RuntimeDefault, requests and limits, and startup/liveness/readiness
 *   probes that ask its admin port's `/health` over loopback (exec, so the admin port never
 *   listens beyond 127.0.0.1). Its MCP ingress listens on {@link K8S_PORTS}.ingress; the init
 *   container redirects inbound connections to the provider's MCP port there, and the sidecar's
 *   upstream is the provider on that same port over loopback;
 * - its config (see {@link podSidecarConfig}) either as a generated ConfigMap `mcp-hangar-<provider>`
 *   (key `hangar.yaml`) mounted read-only at /etc/mcp-hangar (`configFrom: 'configmap'`, for
 *   `k8s inject`, which writes the ConfigMap), or as the YAML text in the sidecar's environment
 *   variable {@link SIDECAR_CONFIG_ENV} (`configFrom: 'env'`, for the admission webhook, which may
 *   create nothing); and the signal token from the Secret {@link InjectOptions.signalTokenSecret}
 *   (key `token`) as `HANGAR_SIGNAL_TOKEN`. The sidecar runs with `--isolation k8s`, so every
 *   signal it sends says the provider is isolated by the pod's rules;
 * - provider containers (and the pod's own init containers) hardened where they set nothing
 *   themselves (as Compose injection does): runAsNonRoot with uid/gid 65534,
 *   `allowPrivilegeEscalation: false`, capabilities drop ALL, read-only root with an emptyDir on
 *   /tmp, seccomp RuntimeDefault; a container with its own drop list loses NET_RAW, SETUID and
 *   SETGID too ({@link ALWAYS_DROPPED}).
 *
 * Settings that would undo the pod's isolation are refused, each with its field path, why, and the
 * fix ({@link podRefusals}). The annotations `mcp.hangar.io/profile` (a built-in profile),
 * `/provider`, `/port`, `/path`, `/aggregator` and `/transport` carry what the Compose labels
 * carry.
 *
 * Idempotent: everything generated carries a reserved name (`mcp-hangar-…`), so a second run first
 * removes it and injects again, which gives the same template. The annotation
 * `mcp.hangar.io/injected` holds a digest of the template as injected: when it no longer matches,
 * someone edited the template after injection, and the result says so (generated parts are
 * rebuilt; edits to the provider's own containers are kept and checked again).
 */
import { stringify as stringifyYaml } from 'yaml'
import { parseConfig } from '../config/load.js'
import { podRulesFromConfig } from './init.js'
import { createHash } from 'node:crypto'
import { isBuiltinProfile, BUILTIN_PROFILES } from '../config/builtin-profiles.js'
import { CONTAINER_DATA_DIR } from '../sidecar/container-config.js'

type Obj = Record<string, unknown>

/** The annotations injection reads (on the pod template) and writes. */
export const ANNOTATION = Object.freeze({
  inject: 'mcp.hangar.io/inject',
  profile: 'mcp.hangar.io/profile',
  provider: 'mcp.hangar.io/provider',
  port: 'mcp.hangar.io/port',
  path: 'mcp.hangar.io/path',
  aggregator: 'mcp.hangar.io/aggregator',
  transport: 'mcp.hangar.io/transport',
  /** Written: digest of the injected template (hand-edit detection). */
  injected: 'mcp.hangar.io/injected',
  /** Written: digest of the generated config (a changed config rolls the workload). */
  configDigest: 'mcp.hangar.io/config-digest',
})

/** The uid and gid of the sidecar; the pod's nftables rules exempt this uid, so no provider may use it. */
export const SIDECAR_UID = 65532
/** The uid/gid given to provider containers that set none (`nobody` on Debian, Alpine and distroless). */
export const PROVIDER_UID = 65534

/**
 * The sidecar's ports inside the pod. All on loopback except the MCP ingress (the pod's
 * nftables rules send inbound MCP traffic and the provider's egress here). Above 1024, so uid 65532
 * binds them without a capability.
 */
export const K8S_PORTS = Object.freeze({ ingress: 15006, dns: 15053, http: 15080, tls: 15443, proxy: 15128, admin: 15901, trap: 15999 })

/** Names of the generated containers, volumes and ConfigMaps start with this; user objects may not. */
export const RESERVED_PREFIX = 'mcp-hangar-'
export const SIDECAR_CONTAINER = 'mcp-hangar-sidecar'
export const INIT_CONTAINER = 'mcp-hangar-init'
const VOL = { config: 'mcp-hangar-config', data: 'mcp-hangar-data', tmp: 'mcp-hangar-tmp', providerTmp: 'mcp-hangar-provider-tmp' } as const
/** Where the config ConfigMap is mounted in the sidecar and init containers. */
export const CONFIG_DIR = '/etc/mcp-hangar'
/** The sidecar's environment variable holding its config text with `configFrom: 'env'` (`sidecar --config-env`). */
export const SIDECAR_CONFIG_ENV = 'HANGAR_SIDECAR_CONFIG'

/** One setting injection will not accept: its field path, why, and the fix. */
export interface Refusal {
  path: string
  message: string
}

/** Options of {@link injectPodSpec}. */
export interface InjectOptions {
  /** Image of the sidecar and init containers. */
  sidecarImage: string
  /** Aggregator URL sidecars ship signals to, unless the template's `mcp.hangar.io/aggregator` names one. */
  aggregatorUrl: string
  /** Secret (same namespace) whose key `token` is the signal token. Default `mcp-hangar-signal-token`. */
  signalTokenSecret?: string
  /** Sidecar resources. Default requests cpu 50m / memory 64Mi, limits cpu 500m / memory 256Mi. */
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  /**
   * How the sidecar gets its config. `configmap` (default): a ConfigMap `mcp-hangar-<provider>` the
   * caller writes ({@link PodInjection.configMapName}), mounted at {@link CONFIG_DIR}. `env`: the
   * YAML text in {@link SIDECAR_CONFIG_ENV}, nothing to create (an admission webhook must have no
   * side effects), no config volume.
   */
  configFrom?: 'configmap' | 'env'
}

/** Where the template sits in its document, for refusal paths (e.g. `spec.template`). */
export interface TemplateLocation {
  /** Path of the pod spec, e.g. `spec.template.spec`. */
  spec: string
  /** Path of the template's metadata, e.g. `spec.template.metadata`. */
  metadata: string
  /** The workload's name: the provider name when the template names none. */
  workload?: string
}

/** The result of {@link injectPodSpec}. Empty `refusals` means `spec`, `annotations` and `config` are set. */
export interface PodInjection {
  spec: Obj
  annotations: Record<string, string>
  /**
   * The provider name, and the ConfigMap's name (only with `configFrom: 'configmap'`) and
   * `hangar.yaml` content (an object for the caller's YAML library).
   */
  provider?: string
  configMapName?: string
  config?: Obj
  refusals: Refusal[]
  /** Things to tell the user (hand edits noticed). */
  notes: string[]
  /**
   * Labels to set on the pod (template): `mcp.hangar.io/provider: <provider>`, which the
   * NetworkPolicy of `mcp-hangar k8s networkpolicy` selects on. Set when injected.
   */
  labels?: Record<string, string>
}

/** The label injection puts on the pod (template): the provider's name. */
export const PROVIDER_LABEL = 'mcp.hangar.io/provider'

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x)
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : [])
const clone = <T>(x: T): T => structuredClone(x)

/** The provider-name rule of hangar.yaml (config/schema.ts), also a valid DNS label once lowercased. */
const PROVIDER_NAME = /^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$/

/** Capabilities a provider container may not add, and why. */
const FORBIDDEN_CAPS: Record<string, string> = {
  ALL: 'ALL includes NET_ADMIN, NET_RAW and SYS_ADMIN (see those)',
  NET_ADMIN: "it can flush the pod's nftables rules and route around the sidecar",
  NET_RAW: 'AF_PACKET sockets send frames below nftables, past every rule',
  SYS_ADMIN: "it can enter other namespaces, mount filesystems and load BPF programs that rewrite the pod's traffic",
  SYS_MODULE: 'a kernel module can undo any isolation',
  BPF: "BPF programs can rewrite or redirect the pod's traffic",
  SYS_PTRACE: "it can trace the init container's or another container's processes where they are visible",
  SETUID: `it can switch to uid ${SIDECAR_UID}, the sidecar's, whose traffic the pod's rules let out unfiltered`,
  SETGID: 'with it a process can take any group, the sidecar\'s included, and keep files it should not reach',
}

/**
 * Capabilities every container but the init container loses even when it drops a list of its own
 * (container runtimes grant NET_RAW, SETUID and SETGID by default; see FORBIDDEN_CAPS for why each).
 */
export const ALWAYS_DROPPED = Object.freeze(['NET_RAW', 'SETUID', 'SETGID'])

/**
 * The settings of one container that would undo a pod's isolation: privilege escalation, privileged,
 * a capability of FORBIDDEN_CAPS added, running as {@link SIDECAR_UID}.
 * @param p the container's field path, prefixed to every refusal
 */
function containerRefusals(c: Obj, p: string): Refusal[] {
  const out: Refusal[] = []
  const sc = isObj(c.securityContext) ? c.securityContext : {}
  if (sc.allowPrivilegeEscalation === true) out.push({ path: `${p}.securityContext.allowPrivilegeEscalation`, message: `set-user-ID programs would take effect: a process could become uid ${SIDECAR_UID}, whose traffic the pod's rules let out unfiltered; remove it or set it to false` })
  if (sc.privileged === true) out.push({ path: `${p}.securityContext.privileged`, message: "a privileged container has every capability and the node's devices: it can rewrite the pod's nftables rules; remove privileged" })
  const caps = isObj(sc.capabilities) ? arr(sc.capabilities.add) : []
  caps.forEach((cap, j) => {
    const name = String(cap).toUpperCase().replace(/^CAP_/, '')
    const why = FORBIDDEN_CAPS[name]
    if (why) out.push({ path: `${p}.securityContext.capabilities.add[${j}]`, message: `${String(cap)}: ${why}; remove it (only mcp-hangar's init container holds NET_ADMIN and NET_RAW)` })
  })
  if (Number(sc.runAsUser) === SIDECAR_UID) out.push({ path: `${p}.securityContext.runAsUser`, message: `uid ${SIDECAR_UID} is the sidecar's, whose traffic the pod's rules let out unfiltered: this container would bypass the sidecar; choose another uid (e.g. ${PROVIDER_UID})` })
  return out
}

/** What {@link guardInjectedPodUpdate} decided: refusals, or the pod spec to patch to (unchanged when nothing to do). */
export interface PodUpdateGuard {
  refusals: Refusal[]
  spec: Obj
}

/**
 * An update of a pod that was injected (`mcp.hangar.io/injected` on the old pod): a debug
 * container added through `pods/ephemeralcontainers` (`kubectl debug`), or a pod update. Ephemeral
 * containers share the pod's network namespace, and the container runtime's default capabilities
 * include NET_RAW (AF_PACKET frames pass below nftables) and SETUID (a process can become the
 * sidecar's uid): each new ephemeral container is hardened as provider containers are (no privilege
 * escalation, capabilities dropped, non-root, read-only root, seccomp) and refused, with the field
 * path, where it asks for what {@link containerRefusals} refuses. A pod update may change container
 * images (the only container field Kubernetes lets change): a new image for a generated container
 * (`mcp-hangar-…`) is refused, since a sidecar image runs as the exempt uid.
 * @param oldSpec the pod's spec before the update; `spec` the one requested.
 */
export function guardInjectedPodUpdate(oldSpec: Obj, spec: Obj, at = 'spec'): PodUpdateGuard {
  const refusals: Refusal[] = []
  const out = clone(spec)
  const oldNames = new Set(arr(oldSpec.ephemeralContainers).map((c) => (isObj(c) ? c.name : undefined)))
  const podSc = isObj(out.securityContext) ? out.securityContext : {}
  arr(out.ephemeralContainers).forEach((c, i) => {
    if (!isObj(c) || oldNames.has(c.name)) return
    const p = `${at}.ephemeralContainers[${i}]`
    if (typeof c.name === 'string' && c.name.startsWith(RESERVED_PREFIX)) refusals.push({ path: `${p}.name`, message: `"${c.name}": names starting with ${RESERVED_PREFIX} are reserved for the containers mcp-hangar injects; rename the container` })
    refusals.push(...containerRefusals(c, p))
    harden(c, podSc)
  })
  for (const kind of ['initContainers', 'containers'] as const) {
    const before = new Map(arr(oldSpec[kind]).filter(isObj).map((c) => [c.name, c.image]))
    arr(out[kind]).forEach((c, i) => {
      if (!isObj(c) || typeof c.name !== 'string' || !c.name.startsWith(RESERVED_PREFIX)) return
      if (before.has(c.name) && before.get(c.name) !== c.image) refusals.push({ path: `${at}.${kind}[${i}].image`, message: `the image of ${c.name} cannot change on a running pod (from ${String(before.get(c.name))} to ${String(c.image)}): it runs as the uid the pod's rules exempt; roll the workload instead` })
    })
  }
  return { refusals, spec: out }
}

/**
 * Settings of a pod spec that would undo the isolation of an injected pod (each with why and the
 * fix): `hostNetwork` (the rules would land in the node's namespace), `hostPID`, `hostIPC`,
 * `shareProcessNamespace` (the provider would see the sidecar's processes, its environment with
 * the signal token, and could signal them), `privileged`, the capabilities of FORBIDDEN_CAPS
 * added, a container or the pod running as {@link SIDECAR_UID} (exempt from the rules), ports the
 * sidecar uses, `hostPath` volumes (node files and sockets reach outside the pod), and reserved
 * `mcp-hangar-…` names in an un-injected template.
 * @param spec a pod spec with the generated containers already removed.
 * @param at path of `spec` in its document, prefixed to every refusal.
 */
export function podRefusals(spec: Obj, at: string): Refusal[] {
  const out: Refusal[] = []
  if (spec.hostNetwork === true) out.push({ path: `${at}.hostNetwork`, message: "the pod would use the node's network namespace: the init container's rules would change the node and the provider's egress would bypass the sidecar; remove hostNetwork (or set it to false)" })
  if (spec.hostPID === true) out.push({ path: `${at}.hostPID`, message: "the provider would see every process on the node, the sidecar's included, and read their environment and files through /proc; remove hostPID" })
  if (spec.hostIPC === true) out.push({ path: `${at}.hostIPC`, message: "the provider would share the node's IPC namespace with every host process; remove hostIPC" })
  if (spec.shareProcessNamespace === true) out.push({ path: `${at}.shareProcessNamespace`, message: "the provider would see the sidecar's processes: read the signal token from their environment, reach their files through /proc/<pid>/root and signal them; remove shareProcessNamespace" })
  const podSc = isObj(spec.securityContext) ? spec.securityContext : {}
  const kinds = ['initContainers', 'containers', 'ephemeralContainers'] as const
  const anyInheritsUid = kinds.some((k) => arr(spec[k]).some((c) => !(isObj(c) && isObj(c.securityContext) && c.securityContext.runAsUser !== undefined)))
  if (Number(podSc.runAsUser) === SIDECAR_UID && anyInheritsUid) out.push({ path: `${at}.securityContext.runAsUser`, message: `uid ${SIDECAR_UID} is the sidecar's, whose traffic the pod's rules let out unfiltered: a container running as it would bypass the sidecar; choose another uid (e.g. ${PROVIDER_UID})` })
  const names = new Set<string>()
  for (const kind of kinds) {
    arr(spec[kind]).forEach((c, i) => {
      const p = `${at}.${kind}[${i}]`
      if (!isObj(c)) {
        out.push({ path: p, message: 'a container must be a mapping' })
        return
      }
      if (typeof c.name === 'string') {
        if (c.name.startsWith(RESERVED_PREFIX)) out.push({ path: `${p}.name`, message: `"${c.name}": names starting with ${RESERVED_PREFIX} are reserved for the containers mcp-hangar injects; rename the container` })
        names.add(c.name)
      }
      out.push(...containerRefusals(c, p))
      arr(c.ports).forEach((port, j) => {
        if (isObj(port) && (Object.values(K8S_PORTS) as unknown[]).includes(port.containerPort)) out.push({ path: `${p}.ports[${j}].containerPort`, message: `${String(port.containerPort)} is a port of the sidecar in this pod (${Object.values(K8S_PORTS).join(', ')}); serve on another port` })
      })
    })
  }
  arr(spec.volumes).forEach((v, i) => {
    if (isObj(v) && v.hostPath !== undefined) out.push({ path: `${at}.volumes[${i}].hostPath`, message: "a node path reaches outside the pod (the container runtime's socket, the node's network configuration) and so around the sidecar; use an emptyDir, ConfigMap, Secret or PersistentVolumeClaim" })
    if (isObj(v) && typeof v.name === 'string' && v.name.startsWith(RESERVED_PREFIX)) out.push({ path: `${at}.volumes[${i}].name`, message: `"${v.name}": names starting with ${RESERVED_PREFIX} are reserved for the volumes mcp-hangar injects; rename the volume` })
  })
  return out
}

/**
 * The init container's arguments: the pod's rule ports as flags, taken from the generated config
 * (k8s/init.ts `podRulesFromConfig`), so the init container needs neither the config file nor the
 * signal token the config names. The token is only a placeholder here: the rules read no secret.
 * @throws ConfigError when the generated config is not a valid pod config (a bug, not an input error)
 */
export function initArgs(config: Obj, provider: string): string[] {
  const { config: loaded } = parseConfig(stringifyYaml(config), 'generated pod config', { HANGAR_SIGNAL_TOKEN: 'placeholder' })
  const r = podRulesFromConfig(loaded, provider, 'generated pod config')
  return [
    'k8s', 'init', '--dns-port', String(r.dnsPort), '--http-port', r.httpPort === null ? 'off' : String(r.httpPort),
    '--tls-port', r.tlsPort === null ? 'off' : String(r.tlsPort), '--admin-port', String(r.adminPort),
    ...r.forwardPorts.flatMap((p) => ['--forward-port', String(p)]),
    ...(r.mcpPort !== null && r.ingressPort !== null ? ['--mcp-port', String(r.mcpPort), '--ingress-port', String(r.ingressPort)] : []),
    ...(r.trapPort !== null ? ['--trap-port', String(r.trapPort)] : []),
    '--sidecar-uid', String(r.sidecarUid),
  ]
}

/**
 * The hangar.yaml of a pod's sidecar (the ConfigMap's `hangar.yaml`): one remote provider whose
 * endpoint is the server over loopback on its own port, MCP ingress on all addresses at
 * {@link K8S_PORTS}.ingress, egress listeners and admin on 127.0.0.1, the signal token from the
 * container's environment, the bypass trap on {@link K8S_PORTS}.trap.
 *
 * DNS is `passthrough` (real, filtered answers; a denied name still gets NXDOMAIN): in a pod the
 * init rules redirect by port whatever the address, so the provider connects to a name's real
 * address and lands on the transparent listeners anyway. Steering would answer 127.0.0.1, which
 * the rules leave alone (loopback) and where no listener is on 80 or 443; and servers with an
 * SSRF guard (mcp-fetch-server) refuse a loopback answer.
 */
export function podSidecarConfig(i: { provider: string; port: number; path: string; aggregatorUrl: string; profile?: string }): Obj {
  const lo = '127.0.0.1'
  return {
    aggregator: { url: i.aggregatorUrl, signal_tokens: ['${HANGAR_SIGNAL_TOKEN}'] },
    providers: {
      [i.provider]: {
        mode: 'remote',
        endpoint: `http://${lo}:${i.port}${i.path}`,
        listen: `0.0.0.0:${K8S_PORTS.ingress}`,
        sidecar: {
          proxy: `${lo}:${K8S_PORTS.proxy}`,
          dns: `${lo}:${K8S_PORTS.dns}`,
          transparent_http: `${lo}:${K8S_PORTS.http}`,
          transparent_tls: `${lo}:${K8S_PORTS.tls}`,
          tcp_forward_host: lo,
          admin: `${lo}:${K8S_PORTS.admin}`,
          bypass_trap: `${lo}:${K8S_PORTS.trap}`,
          transparent_redirected_from: { http: 80, tls: 443 },
          address: lo,
          data_dir: `${CONTAINER_DATA_DIR}/${i.provider}`,
          dns_mode: 'passthrough',
          upstream_dns: ['system'],
        },
        ...(i.profile !== undefined && { profile: i.profile }),
      },
    },
  }
}

/**
 * An environment variable value as Kubernetes should pass it on unchanged: the kubelet expands
 * `$(NAME)` in `env[].value` and reduces `$$` to `$` (API reference, Container `env.value`:
 * "Double $$ are reduced to a single $, which allows for escaping the $(VAR_NAME) syntax"), so
 * every `$` is doubled. Without it a `$(HANGAR_SIGNAL_TOKEN)` in an annotation would put the token
 * in the config, and `$${` (a literal `${` in hangar.yaml) would lose a `$`.
 */
export function escapeEnvValue(text: string): string {
  return text.replace(/\$/g, () => '$$')
}

/** Removes what an earlier injection added (containers, volumes, mounts, written annotations). */
function strip(spec: Obj, annotations: Record<string, string>): { spec: Obj; annotations: Record<string, string> } {
  const s = clone(spec)
  const ours = (x: unknown) => isObj(x) && typeof x.name === 'string' && x.name.startsWith(RESERVED_PREFIX)
  for (const kind of ['initContainers', 'containers'] as const) {
    if (!Array.isArray(s[kind])) continue
    const kept = (s[kind] as unknown[]).filter((c) => !ours(c))
    for (const c of kept) if (isObj(c) && Array.isArray(c.volumeMounts)) {
      c.volumeMounts = c.volumeMounts.filter((m) => !ours(m))
      if (!(c.volumeMounts as unknown[]).length) delete c.volumeMounts
    }
    if (kept.length) s[kind] = kept
    else delete s[kind]
  }
  if (Array.isArray(s.volumes)) {
    s.volumes = s.volumes.filter((v) => !ours(v))
    if (!(s.volumes as unknown[]).length) delete s.volumes
  }
  const a = { ...annotations }
  delete a[ANNOTATION.injected]
  delete a[ANNOTATION.configDigest]
  return { spec: s, annotations: a }
}

/** A short digest of an injected template (spec and annotations, the digest annotation left out). */
export function templateDigest(spec: unknown, annotations: Record<string, string>): string {
  const a = { ...annotations }
  delete a[ANNOTATION.injected]
  return createHash('sha256').update(JSON.stringify([spec, Object.entries(a).sort()])).digest('hex').slice(0, 16)
}

const SECCOMP = { type: 'RuntimeDefault' }

/** The hardening of a provider container, each key only where neither the container nor (for uid/seccomp/nonroot) the pod sets it. */
function harden(c: Obj, podSc: Obj): void {
  const sc: Obj = isObj(c.securityContext) ? { ...c.securityContext } : {}
  if (sc.runAsUser === undefined && podSc.runAsUser === undefined) sc.runAsUser = PROVIDER_UID
  if (sc.runAsGroup === undefined && podSc.runAsGroup === undefined) sc.runAsGroup = PROVIDER_UID
  if (sc.runAsNonRoot === undefined && podSc.runAsNonRoot === undefined) sc.runAsNonRoot = true
  if (sc.allowPrivilegeEscalation === undefined) sc.allowPrivilegeEscalation = false
  if (sc.readOnlyRootFilesystem === undefined) sc.readOnlyRootFilesystem = true
  if (sc.capabilities === undefined) sc.capabilities = { drop: ['ALL'] }
  else if (isObj(sc.capabilities) && sc.capabilities.drop === undefined) sc.capabilities = { ...sc.capabilities, drop: ['ALL'] }
  else if (isObj(sc.capabilities)) {
    // an own drop list keeps the runtime's defaults: the ones that reach around the sidecar go anyway
    const drop = arr(sc.capabilities.drop).map(String)
    const norm = new Set(drop.map((x) => x.toUpperCase().replace(/^CAP_/, '')))
    if (!norm.has('ALL')) sc.capabilities = { ...sc.capabilities, drop: [...drop, ...ALWAYS_DROPPED.filter((x) => !norm.has(x))] }
  }
  if (sc.seccompProfile === undefined && podSc.seccompProfile === undefined) sc.seccompProfile = SECCOMP
  c.securityContext = sc
  const mounts = arr(c.volumeMounts)
  if (!mounts.some((m) => isObj(m) && typeof m.mountPath === 'string' && m.mountPath.replace(/\/+$/, '') === '/tmp')) {
    c.volumeMounts = [...mounts, { name: VOL.providerTmp, mountPath: '/tmp' }]
  }
}

/** The MCP port: the annotation, else the one TCP containerPort of the provider's containers. */
function mcpPort(spec: Obj, annotations: Record<string, string>, at: TemplateLocation, out: Refusal[]): number | undefined {
  const a = annotations[ANNOTATION.port]
  if (a !== undefined) {
    const n = Number(a)
    if (/^\d+$/.test(a.trim()) && n > 0 && n < 65536) {
      if ((Object.values(K8S_PORTS) as number[]).includes(n)) out.push({ path: `${at.metadata}.annotations.${ANNOTATION.port}`, message: `${n} is a port of the sidecar in this pod; serve MCP on another port` })
      return n
    }
    out.push({ path: `${at.metadata}.annotations.${ANNOTATION.port}`, message: `"${a}" is not a port number (1-65535)` })
    return undefined
  }
  const ports = new Set<number>()
  for (const c of arr(spec.containers)) for (const p of isObj(c) ? arr(c.ports) : []) {
    if (isObj(p) && (p.protocol === undefined || p.protocol === 'TCP') && typeof p.containerPort === 'number') ports.add(p.containerPort)
  }
  if (ports.size === 1) return [...ports][0]
  out.push({ path: `${at.metadata}.annotations.${ANNOTATION.port}`, message: ports.size ? `the containers declare several TCP ports (${[...ports].join(', ')}); set ${ANNOTATION.port} to the one serving MCP` : `no MCP port: declare the one containerPort serving MCP Streamable HTTP, or set ${ANNOTATION.port}` })
  return undefined
}

/**
 * Injects the sidecar into one pod template (see the file comment).
 * @param podSpec the template's `spec` (not modified).
 * @param annotations the template's `metadata.annotations` (not modified).
 * @param options images, aggregator, token Secret, resources.
 * @param at where the template sits, for the refusal paths; its `workload` names the provider by default.
 * @returns the injected spec and annotations, or `refusals` (non-empty) with the input returned unchanged.
 *   A template without `mcp.hangar.io/inject: "true"` comes back unchanged with no refusals and no provider.
 */
export function injectPodSpec(podSpec: Obj, annotations: Record<string, string>, options: InjectOptions, at: TemplateLocation = { spec: 'spec', metadata: 'metadata' }): PodInjection {
  const notes: string[] = []
  const unchanged = (refusals: Refusal[]): PodInjection => ({ spec: podSpec, annotations, refusals, notes })
  const flag = annotations[ANNOTATION.inject]
  if (flag === undefined || flag === 'false') return unchanged([])
  if (flag !== 'true') return unchanged([{ path: `${at.metadata}.annotations.${ANNOTATION.inject}`, message: `"${flag}": expected "true" or "false"` }])
  const injectedBefore = annotations[ANNOTATION.injected]
  if (injectedBefore !== undefined && injectedBefore !== templateDigest(podSpec, annotations)) {
    notes.push(`${at.metadata}: the template was edited after injection; the mcp-hangar containers, volumes and annotations were rebuilt (edits to them are lost), edits to the provider's containers were kept and checked again`)
  }
  // only a template injected before loses its mcp-hangar-… objects; elsewhere they are refused
  const base = injectedBefore !== undefined ? strip(podSpec, annotations) : { spec: clone(podSpec), annotations: { ...annotations } }
  const spec = base.spec
  const refusals = podRefusals(spec, at.spec)
  const ann = (k: string) => `${at.metadata}.annotations.${k}`

  const transport = base.annotations[ANNOTATION.transport]?.trim() ?? 'http'
  if (transport === 'stdio') refusals.push({ path: ann(ANNOTATION.transport), message: 'stdio providers are not injected yet: serve MCP Streamable HTTP in the container (an HTTP bridge in its image) and drop this annotation' })
  else if (transport !== 'http') refusals.push({ path: ann(ANNOTATION.transport), message: `"${transport}": expected http or stdio` })
  const provider = (base.annotations[ANNOTATION.provider]?.trim() || at.workload || '').toLowerCase()
  if (!PROVIDER_NAME.test(provider)) refusals.push({ path: ann(ANNOTATION.provider), message: provider ? `"${provider}" is not a provider name (lowercase letters, digits and "-", at most 53)` : 'no provider name: set this annotation' })
  const profile = base.annotations[ANNOTATION.profile]?.trim()
  if (profile !== undefined && !isBuiltinProfile(profile)) refusals.push({ path: ann(ANNOTATION.profile), message: `"${profile}" is not a built-in profile (${BUILTIN_PROFILES.join(', ')})` })
  const aggregatorUrl = base.annotations[ANNOTATION.aggregator]?.trim() || options.aggregatorUrl
  try {
    const u = new URL(aggregatorUrl)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)')
  } catch {
    refusals.push({ path: ann(ANNOTATION.aggregator), message: `"${aggregatorUrl}" is not an http(s) URL` })
  }
  let path = base.annotations[ANNOTATION.path]?.trim() || '/mcp'
  if (!path.startsWith('/')) path = `/${path}`
  if (/[\s?#]/.test(path)) refusals.push({ path: ann(ANNOTATION.path), message: `"${path}": an URL path without spaces, query or fragment` })
  const port = mcpPort(spec, base.annotations, at, refusals)
  if (!arr(spec.containers).length) refusals.push({ path: `${at.spec}.containers`, message: 'a pod needs at least one container' })
  if (refusals.length || port === undefined) return unchanged(refusals)

  const config = podSidecarConfig({ provider, port, path, aggregatorUrl, ...(profile !== undefined && { profile }) })
  const configMapName = `${RESERVED_PREFIX}${provider}`
  const podSc = isObj(spec.securityContext) ? spec.securityContext : {}
  // the user's init containers run after the pod's rules are in place, as any other provider process
  for (const c of [...arr(spec.initContainers), ...arr(spec.containers)]) harden(c as Obj, podSc)
  const fromEnv = options.configFrom === 'env'
  const mounts = fromEnv ? [] : [{ name: VOL.config, mountPath: CONFIG_DIR, readOnly: true }]
  const configArgs = fromEnv ? ['--config-env', SIDECAR_CONFIG_ENV] : ['-c', `${CONFIG_DIR}/hangar.yaml`]
  const init: Obj = {
    name: INIT_CONTAINER,
    image: options.sidecarImage,
    args: initArgs(config, provider),
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
    securityContext: {
      runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] }, seccompProfile: SECCOMP,
    },
  }
  const health = { exec: { command: ['node', '-e', `fetch('http://127.0.0.1:${K8S_PORTS.admin}/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`] } }
  const sidecar: Obj = {
    name: SIDECAR_CONTAINER,
    image: options.sidecarImage,
    restartPolicy: 'Always',
    args: ['sidecar', ...configArgs, '--provider', provider, '--isolation', 'k8s'],
    ports: [{ name: 'hangar-mcp', containerPort: K8S_PORTS.ingress, protocol: 'TCP' }],
    env: [
      { name: 'HANGAR_SIGNAL_TOKEN', valueFrom: { secretKeyRef: { name: options.signalTokenSecret ?? 'mcp-hangar-signal-token', key: 'token' } } },
      ...(fromEnv ? [{ name: SIDECAR_CONFIG_ENV, value: escapeEnvValue(stringifyYaml(config)) }] : []),
    ],
    volumeMounts: [...mounts, { name: VOL.data, mountPath: CONTAINER_DATA_DIR }, { name: VOL.tmp, mountPath: '/tmp' }],
    resources: options.resources ?? { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    securityContext: {
      runAsUser: SIDECAR_UID, runAsGroup: SIDECAR_UID, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: SECCOMP,
    },
    startupProbe: { ...health, periodSeconds: 1, failureThreshold: 60, timeoutSeconds: 3 },
    livenessProbe: { ...health, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 3 },
    readinessProbe: { ...health, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 3 },
  }
  spec.initContainers = [init, sidecar, ...arr(spec.initContainers)]
  spec.volumes = [
    ...arr(spec.volumes),
    ...(fromEnv ? [] : [{ name: VOL.config, configMap: { name: configMapName } }]),
    { name: VOL.data, emptyDir: {} },
    { name: VOL.tmp, emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: VOL.providerTmp, emptyDir: {} },
  ]
  const configDigest = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16)
  const out: Record<string, string> = { ...base.annotations, [ANNOTATION.configDigest]: configDigest }
  out[ANNOTATION.injected] = templateDigest(spec, out)
  return { spec, annotations: out, labels: { [PROVIDER_LABEL]: provider }, provider, ...(!fromEnv && { configMapName }), config, refusals: [], notes }
}
