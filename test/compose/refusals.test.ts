/**
 * `compose inject` against Compose files that try to get a labelled provider more than its
 * isolation: host access (namespaces, devices, sysctls, unconfined security options, runtime
 * sockets and host system paths by every route Compose mounts a host path), settings that undo
 * the isolation outright, variables, `extends`, other services joining the provider. Each attack
 * is tried and must be refused naming the Compose path; the control is docker-compose v1 itself
 * (its own loader, test/compose/compose-v1.ts) reading the same file and keeping the setting, so
 * the technique is real; and where a grant exists, the same file with the grant label is injected
 * and the grant reaches the sidecar.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { injectCompose, type InjectOptions, type InjectResult } from '../../compose/inject.js'
import { ConfigError } from '../../core/errors.js'
import { composePython, composeRead, type ComposeResult, type ComposeView } from './compose-v1.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'hangar-isolation-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
// about 25 s alone; more when the machine is shared
t.setTimeout(300_000)
const python = composePython()
if (!python && process.env.CI) t.fail('docker-compose is not installed (CI installs the Debian package)')

const opts = (extra: Partial<InjectOptions> = {}): InjectOptions => ({
  source: join(dir, 'docker-compose.yml'),
  sidecarImage: 'mcp-hangar/sidecar:test',
  aggregatorImage: 'mcp-hangar/aggregator:test',
  seccompProfile: join(root, 'security/seccomp/mcp-provider.json'),
  projectName: 'iso',
  ...extra,
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML
type Obj = Record<string, any>

let fileNo = 0
const read = new Map<string, ComposeResult>()
/** Reads the texts with docker-compose in one process (each placed in the test directory), for {@link composeSees}. */
function composeReadAll(texts: readonly string[]): void {
  if (!python) return
  const todo = [...new Set(texts)].filter((x) => !read.has(x))
  if (!todo.length) return
  const files = todo.map((x) => {
    const f = join(dir, `case-${++fileNo}.yml`)
    writeFileSync(f, x)
    return f
  })
  composeRead(python, files).forEach((r, i) => read.set(todo[i]!, r))
}

/** What docker-compose v1 makes of `text` (placed in the test directory), or undefined without it. */
function composeSees(tt: Test, text: string): ComposeView | undefined {
  if (!python) {
    tt.comment('docker-compose not installed: not cross-checked')
    return undefined
  }
  composeReadAll([text])
  const r = read.get(text)
  if (!r!.ok) {
    tt.fail(`docker-compose refuses the file: ${r!.error}`)
    return undefined
  }
  return r!.config
}

/** Injection must fail naming `path` (and, when given, with a message matching `message`). */
function refused(tt: Test, text: string, path: string, message?: RegExp): ConfigError | undefined {
  let err: unknown
  try {
    injectCompose(text, opts())
  } catch (e) {
    err = e
  }
  if (!(err instanceof ConfigError)) {
    tt.fail(`expected a refusal naming ${path}, got ${err ? String(err) : 'an injected file'}`)
    return undefined
  }
  const issue = err.issues.find((i) => i.path === path)
  tt.ok(issue, `refused at ${path}${issue ? '' : `; issues: ${JSON.stringify(err.issues)}`}`)
  if (issue && message) tt.match(issue.message, message, `${path}: the message says what to change`)
  return err
}

/** A file with the labelled provider `p` (MCP on 8080), `extra` lines in it, `labels` added and `more` after. */
function file(extra: string, o: { labels?: string[]; more?: string; services?: string } = {}): string {
  const labels = ['mcp.hangar.enabled: "true"', ...(o.labels ?? [])].map((l) => `      ${l}`).join('\n')
  const body = extra.split('\n').filter(Boolean).map((l) => `    ${l}`).join('\n')
  return `services:\n  p:\n    image: i\n    expose: [8080]\n    labels:\n${labels}\n${body}\n${o.services ?? ''}${o.more ?? ''}`
}

interface HostCase {
  name: string
  extra: string
  path: string
  grant: string
  more?: string
  services?: string
  /** What docker-compose v1 keeps of it (a key of the service), when v1 knows the key. */
  composeKey?: string
}

const SOCK = '/var/run/docker.sock'
const HOST: HostCase[] = [
  { name: 'pid: host', extra: 'pid: host', path: 'services.p.pid', grant: 'pid', composeKey: 'pid' },
  { name: 'pid: service:', extra: 'pid: "service:q"', services: '  q: {image: i}\n', path: 'services.p.pid', grant: 'pid', composeKey: 'pid' },
  { name: 'pid: container:', extra: 'pid: "container:abc"', path: 'services.p.pid', grant: 'pid', composeKey: 'pid' },
  { name: 'ipc: host', extra: 'ipc: host', path: 'services.p.ipc', grant: 'ipc', composeKey: 'ipc' },
  { name: 'ipc: service:', extra: 'ipc: "service:q"', services: '  q: {image: i}\n', path: 'services.p.ipc', grant: 'ipc', composeKey: 'ipc' },
  { name: 'userns_mode: host', extra: 'userns_mode: host', path: 'services.p.userns_mode', grant: 'userns', composeKey: 'userns_mode' },
  { name: 'uts: host (Compose v2)', extra: 'uts: host', path: 'services.p.uts', grant: 'uts' },
  { name: 'cgroup: host (Compose v2)', extra: 'cgroup: host', path: 'services.p.cgroup', grant: 'cgroup' },
  { name: 'devices', extra: 'devices: ["/dev/fuse:/dev/fuse"]', path: 'services.p.devices[0]', grant: 'devices', composeKey: 'devices' },
  { name: 'device_cgroup_rules', extra: 'device_cgroup_rules: ["c 1:3 mr"]', path: 'services.p.device_cgroup_rules[0]', grant: 'devices', composeKey: 'device_cgroup_rules' },
  { name: 'device reservations', extra: 'deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}', path: 'services.p.deploy.resources.reservations.devices', grant: 'devices', composeKey: 'deploy' },
  { name: 'sysctls', extra: 'sysctls: {net.ipv4.conf.all.route_localnet: 1}', path: 'services.p.sysctls.net.ipv4.conf.all.route_localnet', grant: 'sysctls', composeKey: 'sysctls' },
  { name: 'sysctls as a list', extra: 'sysctls: ["net.ipv4.ip_forward=1"]', path: 'services.p.sysctls.net.ipv4.ip_forward', grant: 'sysctls', composeKey: 'sysctls' },
  { name: 'seccomp:unconfined', extra: 'security_opt: ["seccomp:unconfined"]', path: 'services.p.security_opt[0]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'apparmor=unconfined', extra: 'security_opt: ["apparmor=unconfined"]', path: 'services.p.security_opt[0]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'label=disable', extra: 'security_opt: ["label=disable"]', path: 'services.p.security_opt[0]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'label:disable', extra: 'security_opt: ["label:disable"]', path: 'services.p.security_opt[0]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'label=type:spc_t', extra: 'security_opt: ["label=type:spc_t"]', path: 'services.p.security_opt[0]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'systempaths=unconfined', extra: 'security_opt: ["no-new-privileges:true", "systempaths=unconfined"]', path: 'services.p.security_opt[1]', grant: 'unconfined', composeKey: 'security_opt' },
  { name: 'docker socket', extra: `volumes: ["${SOCK}:${SOCK}"]`, path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: 'docker socket, read-only', extra: `volumes: ["${SOCK}:/s:ro"]`, path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: '/run/docker.sock', extra: 'volumes: ["/run/docker.sock:/s"]', path: 'services.p.volumes[0]', grant: 'path:/run/docker.sock', composeKey: 'volumes' },
  { name: 'containerd socket', extra: 'volumes: ["/run/containerd/containerd.sock:/c.sock"]', path: 'services.p.volumes[0]', grant: 'path:/run/containerd/containerd.sock', composeKey: 'volumes' },
  { name: 'podman socket', extra: 'volumes: ["/run/podman/podman.sock:/p.sock"]', path: 'services.p.volumes[0]', grant: 'path:/run/podman/podman.sock', composeKey: 'volumes' },
  { name: 'rootless docker socket in a home', extra: 'volumes: ["/home/u/.docker/run/docker.sock:/s"]', path: 'services.p.volumes[0]', grant: 'path:/home/u/.docker/run/docker.sock', composeKey: 'volumes' },
  { name: 'rootless podman socket in a home', extra: 'volumes: ["/home/u/.local/share/containers/podman.sock:/s"]', path: 'services.p.volumes[0]', grant: 'path:/home/u/.local/share/containers/podman.sock', composeKey: 'volumes' },
  { name: 'crio socket', extra: 'volumes: ["/srv/crio.sock:/s"]', path: 'services.p.volumes[0]', grant: 'path:/srv/crio.sock', composeKey: 'volumes' },
  { name: '/proc', extra: 'volumes: ["/proc:/host/proc"]', path: 'services.p.volumes[0]', grant: 'path:/proc', composeKey: 'volumes' },
  { name: '/sys read-only', extra: 'volumes: ["/sys:/sys:ro"]', path: 'services.p.volumes[0]', grant: 'path:/sys', composeKey: 'volumes' },
  { name: '/', extra: 'volumes: ["/:/host"]', path: 'services.p.volumes[0]', grant: 'path:/', composeKey: 'volumes' },
  { name: '/etc', extra: 'volumes: ["/etc:/host/etc"]', path: 'services.p.volumes[0]', grant: 'path:/etc', composeKey: 'volumes' },
  { name: '/etc/shadow (under /etc)', extra: 'volumes: ["/etc/shadow:/s"]', path: 'services.p.volumes[0]', grant: 'path:/etc/shadow', composeKey: 'volumes' },
  { name: '/var/run', extra: 'volumes: ["/var/run:/vr"]', path: 'services.p.volumes[0]', grant: 'path:/var/run', composeKey: 'volumes' },
  { name: '/run', extra: 'volumes: ["/run:/r"]', path: 'services.p.volumes[0]', grant: 'path:/run', composeKey: 'volumes' },
  { name: '/var (holds /var/run)', extra: 'volumes: ["/var:/v"]', path: 'services.p.volumes[0]', grant: 'path:/var', composeKey: 'volumes' },
  { name: '/dev', extra: 'volumes: ["/dev:/dev"]', path: 'services.p.volumes[0]', grant: 'path:/dev', composeKey: 'volumes' },
  { name: '/var/lib/docker', extra: 'volumes: ["/var/lib/docker:/d"]', path: 'services.p.volumes[0]', grant: 'path:/var/lib/docker', composeKey: 'volumes' },
  { name: 'unnormalised path', extra: 'volumes: ["//var//run/./docker.sock:/s"]', path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: 'dot-dot path', extra: 'volumes: ["/srv/../var/run/docker.sock:/s"]', path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: 'relative path resolving to the socket', extra: `volumes: ["${'../'.repeat(12)}var/run/docker.sock:/s"]`, path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: 'long syntax bind', extra: `volumes: [{type: bind, source: ${SOCK}, target: /s}]`, path: 'services.p.volumes[0]', grant: `path:${SOCK}`, composeKey: 'volumes' },
  { name: 'long syntax bind of /proc, read-only', extra: 'volumes: [{type: bind, source: /proc, target: /p, read_only: true}]', path: 'services.p.volumes[0]', grant: 'path:/proc', composeKey: 'volumes' },
  {
    name: 'named volume binding /var/run', extra: 'volumes: ["hostrun:/r"]', path: 'services.p.volumes[0]', grant: 'path:/var/run', composeKey: 'volumes',
    more: 'volumes:\n  hostrun:\n    driver: local\n    driver_opts: {type: none, o: bind, device: /var/run}\n',
  },
  {
    name: 'long-syntax named volume binding /', extra: 'volumes: [{type: volume, source: hostroot, target: /h}]', path: 'services.p.volumes[0]', grant: 'path:/', composeKey: 'volumes',
    more: 'volumes:\n  hostroot:\n    driver_opts: {type: none, o: bind, device: /}\n',
  },
  { name: 'secret from /etc/shadow', extra: 'secrets: [s]', path: 'services.p.secrets[0]', grant: 'path:/etc/shadow', composeKey: 'secrets', more: 'secrets:\n  s: {file: /etc/shadow}\n' },
  { name: 'long-syntax secret from the socket', extra: 'secrets: [{source: s, target: sock}]', path: 'services.p.secrets[0]', grant: `path:${SOCK}`, composeKey: 'secrets', more: `secrets:\n  s: {file: ${SOCK}}\n` },
  { name: 'config from /proc', extra: 'configs: [c]', path: 'services.p.configs[0]', grant: 'path:/proc/self/environ', composeKey: 'configs', more: 'configs:\n  c: {file: /proc/self/environ}\n' },
  { name: 'env_file from /etc', extra: 'env_file: /etc/environment', path: 'services.p.env_file', grant: 'path:/etc/environment' },
  { name: 'env_file list from /proc', extra: 'env_file: [./ok.env, /proc/1/environ]', path: 'services.p.env_file[1]', grant: 'path:/proc/1/environ' },
]

t.test('host access is refused by every route, and granted only by name', async (t) => {
  writeFileSync(join(dir, 'ok.env'), 'A=1\n')
  composeReadAll(HOST.filter((c) => c.composeKey).map((c) => file(c.extra, { ...(c.more && { more: c.more }), ...(c.services && { services: c.services }) })))
  for (const c of HOST) {
    await t.test(c.name, async (tt) => {
      const text = file(c.extra, { ...(c.more && { more: c.more }), ...(c.services && { services: c.services }) })
      refused(tt, text, c.path, new RegExp(`mcp\\.hangar\\.host-access: "${c.grant.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`))
      // control: Compose runs the service labelled, with the setting
      if (c.composeKey) {
        const seen = composeSees(tt, text)
        if (seen) {
          tt.equal(seen.services.p.labels['mcp.hangar.enabled'], 'true', 'Compose sees the service labelled')
          tt.ok(seen.services.p[c.composeKey] !== undefined, `and keeps ${c.composeKey}`)
        }
      }
      // granted by name: injected, reported to the sidecar
      const granted = file(c.extra, { labels: [`mcp.hangar.host-access: "${c.grant}"`], ...(c.more && { more: c.more }), ...(c.services && { services: c.services }) })
      const r = injectCompose(granted, opts())
      tt.ok(r.providers[0]!.hostAccess.some((g) => g.grant === c.grant && g.path === c.path), 'the grant is in effect')
      const sc = (parse(r.text) as Obj).services['hangar-sidecar-p']
      tt.ok((JSON.parse(sc.environment.HANGAR_HOST_ACCESS) as Array<{ grant: string }>).some((g) => g.grant === c.grant), 'and handed to the sidecar')
      // a grant of something else does not cover it
      const other = c.grant === 'pid' ? 'ipc' : 'pid'
      const wrong = file(c.extra, { labels: [`mcp.hangar.host-access: "${other}"`], ...(c.more && { more: c.more }), ...(c.services && { services: c.services }) })
      const e = refused(tt, wrong, c.path)
      tt.ok(e?.issues.some((i) => i.path === 'services.p.labels.mcp.hangar.host-access' && /grants nothing/.test(i.message)), 'and the unused grant is named')
    })
  }
})

t.test('a symbolic link to a host system path is followed', (tt) => {
  symlinkSync('/proc', join(dir, 'innocent'))
  refused(tt, file('volumes: ["./innocent:/x"]'), 'services.p.volumes[0]', /\/proc/)
  // control: an ordinary directory next to the file
  const r = injectCompose(file('volumes: ["./data:/data", "cache:/cache", "/srv/app:/app:ro"]', { more: 'volumes:\n  cache: {}\n' }), opts())
  tt.same(r.providers[0]!.hostAccess, [], 'ordinary binds and named volumes need no grant')
  tt.end()
})

t.test('allowed values of the namespace settings need no grant', (tt) => {
  for (const extra of ['ipc: private', 'ipc: shareable', 'cgroup: private', 'security_opt: ["no-new-privileges:true", "seccomp=/srv/strict.json"]', 'cap_add: [CHOWN, NET_BIND_SERVICE]']) {
    const r = injectCompose(file(extra), opts())
    tt.same(r.providers[0]!.hostAccess, [], `${extra}: injected, no grant`)
  }
  tt.end()
})

t.test('grants: unknown, relative and unused ones are refused', (tt) => {
  const e = refused(tt, file('pid: host', { labels: ['mcp.hangar.host-access: "pid, everything, path:var/run"'] }), 'services.p.labels.mcp.hangar.host-access')
  tt.ok(e?.issues.some((i) => /"everything" is not a host-access grant/.test(i.message)))
  tt.ok(e?.issues.some((i) => /"path:var\/run" is not a host-access grant/.test(i.message)), 'a path grant must be absolute')
  tt.notOk(e?.issues.some((i) => i.path === 'services.p.pid'), 'pid itself was granted')
  const spelt = injectCompose(file('volumes: ["/var/run/:/vr"]', { labels: ['mcp.hangar.host-access: " path:/var//run/ "'] }), opts())
  tt.equal(spelt.providers[0]!.hostAccess[0]?.grant, 'path:/var/run', 'a path grant is normalised like the path it grants')
  const grantPath = file(`volumes: ["${SOCK}:/s"]`, { labels: ['mcp.hangar.host-access: "path:/var/run"'] })
  refused(tt, grantPath, 'services.p.volumes[0]', /path:\/var\/run\/docker\.sock/)
  tt.end()
})

interface HardCase {
  name: string
  text: string
  path: string
  message?: RegExp
  /** docker-compose v1's view of the input that shows the technique works (a check on the configuration). */
  control?: (c: ComposeView) => boolean
}

const HARD: HardCase[] = [
  { name: 'privileged: true', text: file('privileged: true'), path: 'services.p.privileged', control: (c) => c.services.p.privileged === true },
  { name: 'privileged: "true" (string)', text: file('privileged: "true"'), path: 'services.p.privileged' },
  { name: 'privileged: yes (YAML 1.1)', text: file('privileged: yes'), path: 'services.p.privileged', control: (c) => c.services.p.privileged === true },
  { name: 'privileged: On (YAML 1.1)', text: file('privileged: On'), path: 'services.p.privileged', control: (c) => c.services.p.privileged === true },
  { name: 'privileged from a variable', text: file('privileged: ${PRIV:-true}'), path: 'services.p.privileged', message: /variable/, control: (c) => c.services.p.privileged === true },
  { name: 'network_mode: host', text: file('network_mode: host'), path: 'services.p.network_mode' },
  { name: 'network_mode: container:', text: file('network_mode: "container:abc"'), path: 'services.p.network_mode' },
  { name: 'network_mode from a variable', text: file('network_mode: ${MODE:-host}'), path: 'services.p.network_mode', control: (c) => c.services.p.network_mode === 'host' },
  { name: 'cap_add CAP_SYS_ADMIN', text: file('cap_add: [CAP_SYS_ADMIN]'), path: 'services.p.cap_add', message: /SYS_ADMIN/, control: (c) => c.services.p.cap_add.includes('CAP_SYS_ADMIN') },
  { name: 'cap_add lower case with prefix', text: file('cap_add: [cap_net_admin]'), path: 'services.p.cap_add', message: /NET_ADMIN/ },
  { name: 'cap_add all', text: file('cap_add: [all]'), path: 'services.p.cap_add', message: /ALL/ },
  { name: 'cap_add DAC_READ_SEARCH (open_by_handle_at)', text: file('cap_add: [DAC_READ_SEARCH]'), path: 'services.p.cap_add', message: /DAC_READ_SEARCH/ },
  { name: 'cap_add from a variable', text: file('cap_add: ["${CAP:-SYS_ADMIN}"]'), path: 'services.p.cap_add[0]', message: /variable/ },
  { name: 'cap_add not a list', text: file('cap_add: SYS_ADMIN'), path: 'services.p.cap_add', message: /list/ },
  { name: 'links', text: file('links: [q]', { services: '  q: {image: i}\n' }), path: 'services.p.links' },
  { name: 'volumes_from', text: file('volumes_from: [q]', { services: `  q: {image: i, volumes: ["${SOCK}:${SOCK}"]}\n` }), path: 'services.p.volumes_from', control: (c) => c.services.p.volumes_from.length === 1 },
  { name: 'a volume from a variable', text: file('volumes: ["${SOCK:-/var/run/docker.sock}:/s"]'), path: 'services.p.volumes[0]', message: /variable/, control: (c) => JSON.stringify(c.services.p.volumes).includes(SOCK) },
  { name: 'a long-syntax source from a variable', text: file('volumes: [{type: bind, source: "${S:-/}", target: /h}]'), path: 'services.p.volumes[0].source', message: /variable/ },
  { name: 'pid from a variable', text: file('pid: ${PID_MODE:-host}'), path: 'services.p.pid', message: /variable/, control: (c) => c.services.p.pid === 'host' },
  { name: 'security_opt from a variable', text: file('security_opt: ["${SEC:-seccomp=unconfined}"]'), path: 'services.p.security_opt[0]', message: /variable/ },
  {
    name: 'a named volume whose device is a variable', text: file('volumes: ["v:/v"]', { more: 'volumes:\n  v:\n    driver_opts: {type: none, o: bind, device: "${D:-/}"}\n' }), path: 'services.p.volumes[0]', message: /variable/,
  },
  {
    name: 'another service joins the provider\'s network namespace', text: file('', { services: '  helper: {image: i, network_mode: "service:p", cap_add: [NET_ADMIN]}\n' }), path: 'services.helper.network_mode',
    control: (c) => c.services.helper.network_mode === 'service:p',
  },
  { name: 'another service joins its pid namespace', text: file('', { services: '  helper: {image: i, pid: "service:p"}\n' }), path: 'services.helper.pid' },
  { name: 'another service joins by container_name', text: file('container_name: mcp1', { services: '  helper: {image: i, network_mode: "container:mcp1"}\n' }), path: 'services.helper.network_mode' },
  { name: 'another service with a variable network_mode', text: file('', { services: '  helper: {image: i, network_mode: "${NM:-service:p}"}\n' }), path: 'services.helper.network_mode' },
  { name: 'extends on a provider', text: file('extends: base', { services: '  base: {image: i, privileged: true}\n' }), path: 'services.p.extends', control: (c) => c.services.p.privileged === true },
]

t.test('settings that undo the isolation are refused, whatever their spelling', async (t) => {
  composeReadAll(HARD.filter((c) => c.control).map((c) => c.text))
  for (const c of HARD) {
    await t.test(c.name, async (tt) => {
      refused(tt, c.text, c.path, c.message)
      if (c.control) {
        const seen = composeSees(tt, c.text)
        if (seen) tt.ok(c.control(seen), 'control: docker-compose runs the setting as the attack intends')
      }
    })
  }
})

t.test('a service joining an unlabelled service is not our concern (control)', (tt) => {
  const r = injectCompose(file('', { services: '  q: {image: i}\n  helper: {image: i, network_mode: "service:q"}\n' }), opts())
  tt.equal(r.providers.length, 1)
  tt.end()
})

/** The one provider's result; fails the test when injection refuses. */
function injected(tt: Test, text: string): InjectResult | undefined {
  try {
    return injectCompose(text, opts())
  } catch (err) {
    tt.fail(`injection refused: ${err instanceof ConfigError ? JSON.stringify(err.issues) : String(err)}`)
    return undefined
  }
}

t.test('merge keys and anchors: labels and settings are seen as Compose sees them', async (t) => {
  await t.test('a label brought in by <<: *common is seen', async (tt) => {
    const text = `x-common: &common\n  image: i\n  labels:\n    mcp.hangar.enabled: "true"\nservices:\n  p:\n    <<: *common\n    expose: [8080]\n`
    const seen = composeSees(tt, text)
    if (seen) tt.equal(seen.services.p.labels['mcp.hangar.enabled'], 'true', 'control: Compose sees the label')
    const r = injected(tt, text)
    tt.same(r?.providers.map((p) => p.service), ['p'], 'the service is isolated')
    const out = parse(r!.text) as Obj
    tt.same(Object.keys(out.services.p.networks), ['hangar_p_internal'])
  })
  await t.test('x-bad merged into a labelled service: privileged and the port are seen', async (tt) => {
    const text = `x-bad: &bad {privileged: true, ports: ["9999:22"]}\nservices:\n  p:\n    <<: *bad\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true", mcp.hangar.port: "8080"}\n`
    const seen = composeSees(tt, text)
    if (seen) tt.ok(seen.services.p.privileged === true && seen.services.p.ports.length === 1, 'control: Compose runs it privileged, port published')
    refused(tt, text, 'services.p.privileged')
    refused(tt, text, 'services.p.ports[0]')
  })
  await t.test('a list of merges: the first source wins, as in Compose', async (tt) => {
    for (const [order, enabled] of [['[*on, *off]', true], ['[*off, *on]', false]] as const) {
      const text = `x-on: &on {labels: {mcp.hangar.enabled: "true"}}\nx-off: &off {labels: {mcp.hangar.enabled: "false"}, privileged: true}\nservices:\n  p:\n    <<: ${order}\n    image: i\n    expose: [8080]\n`
      const seen = composeSees(tt, text)
      if (seen) tt.equal(seen.services.p.labels['mcp.hangar.enabled'], String(enabled), `control: Compose takes the first source (${order})`)
      if (enabled) refused(tt, text, 'services.p.privileged')
      else tt.equal(injectCompose(text, opts()).providers.length, 0, `${order}: not labelled for us either`)
    }
  })
  await t.test('nested merges: a merged anchor that merges another', async (tt) => {
    const text = `x-a: &a {pid: host}\nx-b: &b\n  <<: *a\n  labels: {mcp.hangar.enabled: "true"}\nservices:\n  p:\n    <<: *b\n    image: i\n    expose: [8080]\n`
    const seen = composeSees(tt, text)
    if (seen) tt.equal(seen.services.p.pid, 'host', 'control: Compose resolves both')
    refused(tt, text, 'services.p.pid')
  })
  await t.test('an alias as the whole labels mapping, and as a list item', async (tt) => {
    const text = `x-l: &l {mcp.hangar.enabled: "true"}\nx-v: &v "${SOCK}:/s"\nservices:\n  p:\n    image: i\n    expose: [8080]\n    labels: *l\n    volumes: [*v]\n`
    refused(tt, text, 'services.p.volumes[0]')
  })
  await t.test('the service itself is an alias of an anchored service', async (tt) => {
    const text = `services:\n  base: &base\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n  copy: *base\n`
    const r = injected(tt, text)
    tt.same(r?.providers.map((p) => p.service).sort(), ['base', 'copy'], 'both are isolated')
    const again = injectCompose(r!.text, opts())
    tt.equal(again.text, r!.text, 'and the output injects to itself')
  })
  await t.test('services merged into the services mapping, and services as an alias', async (tt) => {
    const merged = `x-more: &more\n  hidden:\n    image: i\n    expose: [8080]\n    privileged: true\n    labels: {mcp.hangar.enabled: "true"}\nservices:\n  <<: *more\n  web: {image: i}\n`
    const seen = composeSees(tt, merged)
    if (seen) tt.equal(seen.services.hidden.privileged, true, 'control: Compose runs the merged-in service')
    refused(tt, merged, 'services.hidden.privileged')
    const aliased = `x-svcs: &svcs\n  q:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\nservices: *svcs\n`
    tt.same(injected(tt, aliased)?.providers.map((p) => p.service), ['q'])
  })
  await t.test('two merge keys in one mapping are refused (the loaders disagree)', async (tt) => {
    const text = `x-a: &a {labels: {mcp.hangar.enabled: "false"}}\nx-b: &b {labels: {mcp.hangar.enabled: "true"}}\nservices:\n  p:\n    <<: *a\n    <<: *b\n    image: i\n    expose: [8080]\n`
    const seen = composeSees(tt, text)
    if (seen) tt.equal(seen.services.p.labels['mcp.hangar.enabled'], 'true', 'control: docker-compose lets the later win')
    refused(tt, text, 'services.p.<<', /two merge keys/)
  })
  await t.test('duplicate keys, a redefined anchor, an alias bomb, an unknown tag', async (tt) => {
    refused(tt, 'services:\n  p:\n    image: i\n    labels: {mcp.hangar.enabled: "true"}\n    labels: {a: b}\n', '(yaml)')
    refused(tt, 'x-a: &a {privileged: false}\nx-b: &a {privileged: true}\nservices:\n  p:\n    <<: *a\n    image: i\n', '(yaml)', /defined twice/)
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n')
    refused(tt, `x-bomb:\n${bomb.split('\n').map((l) => `  ${l}`).join('\n')}\nservices:\n  p: {image: i}\n`, '(yaml)')
    refused(tt, 'services:\n  p:\n    image: i\n    privileged: !reset true\n', '(yaml)', /tag/)
  })
  await t.test('the output means what the input meant (Compose reads both)', async (tt) => {
    // D and E, and the provider's command, are regressions the fuzz test found: a date-like string and
    // "<<" as a value were written unquoted, which PyYAML reads as a date and a merge key
    const text = `x-env: &env\n  A: "on"\n  B: "0755"\n  C: "1:30"\n  D: "2001-01-01"\n  E: "<<"\nx-base: &base\n  image: i\n  environment: *env\nservices:\n  web:\n    <<: *base\n    command: ["echo", "yes"]\n  p:\n    <<: *base\n    command: ["<<", "2001-01-01"]\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n`
    const r = injected(tt, text)
    const before = composeSees(tt, text)
    const after = composeSees(tt, r!.text)
    if (before && after) {
      tt.same(after.services.web, before.services.web, 'an untouched service reads the same')
      tt.same(after['x-mcp-hangar'], undefined)
      for (const k of ['A', 'B', 'C', 'D', 'E']) tt.equal(after.services.p.environment[k], before.services.p.environment[k], `the provider's ${k} keeps its string value`)
      tt.same(after.services.p.command, ['<<', '2001-01-01'], 'and its command')
    }
  })
})

t.test('labels: misspelt, variable or ambiguous mcp-hangar labels are refused', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['a misspelt key', 'labels: {mcp.hangar.enable: "true"}', 'services.q.labels.mcp.hangar.enable'],
    ['another case', 'labels: {MCP.HANGAR.ENABLED: "true"}', 'services.q.labels.MCP.HANGAR.ENABLED'],
    ['an underscore', 'labels: ["mcp_hangar.enabled=true"]', 'services.q.labels.mcp_hangar.enabled'],
    ['a value that is neither', 'labels: {mcp.hangar.enabled: "maybe"}', 'services.q.labels.mcp.hangar.enabled'],
    ['a variable value', 'labels: {mcp.hangar.enabled: "${ON:-true}"}', 'services.q.labels.mcp.hangar.enabled'],
    ['a list entry from a variable', 'labels: ["${LBL:-mcp.hangar.enabled=true}"]', 'services.q.labels'],
    ['a profile from a variable', 'labels: ["mcp.hangar.enabled=true", "mcp.hangar.profile=$P"]', 'services.q.labels.mcp.hangar.profile'],
  ]
  for (const [name, labels, path] of cases) {
    await t.test(name, async (tt) => {
      refused(tt, `services:\n  q:\n    image: i\n    expose: [8080]\n    ${labels}\n`, path)
    })
  }
  await t.test('YAML 1.1 booleans and the list form are read as Compose reads them', async (tt) => {
    for (const labels of ['labels: {mcp.hangar.enabled: on}', 'labels: {mcp.hangar.enabled: Yes}', 'labels: ["mcp.hangar.enabled=true"]', 'labels: ["mcp.hangar.enabled=false", "mcp.hangar.enabled=TRUE"]']) {
      const text = `services:\n  q:\n    image: i\n    expose: [8080]\n    ${labels}\n`
      const seen = composeSees(tt, text)
      if (seen) tt.match(seen.services.q.labels['mcp.hangar.enabled'], /^(true|True|TRUE)$/, `control: Compose labels it (${labels})`)
      tt.equal(injected(tt, text)?.providers.length, 1, `${labels}: isolated`)
    }
    const off = injectCompose('services:\n  q:\n    image: i\n    labels: {mcp.hangar.enabled: off}\n', opts())
    tt.equal(off.providers.length, 0, 'off is off')
  })
})

t.test('extends: a label inherited from another service or file is seen', (tt) => {
  writeFileSync(join(dir, 'common.yml'), 'services:\n  labelled:\n    image: i\n    labels: {mcp.hangar.enabled: "true"}\n')
  const same = 'services:\n  base:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n  child:\n    extends: base\n'
  const seen = composeSees(tt, same)
  if (seen) tt.equal(seen.services.child.labels['mcp.hangar.enabled'], 'true', 'control: Compose gives the child the label')
  refused(tt, same, 'services.child.extends', /mcp\.hangar\.enabled/)
  const other = 'services:\n  child:\n    extends: {file: common.yml, service: labelled}\n    expose: [8080]\n'
  const seen2 = composeSees(tt, other)
  if (seen2) tt.equal(seen2.services.child.labels['mcp.hangar.enabled'], 'true', 'control: and from another file')
  refused(tt, other, 'services.child.extends')
  refused(tt, 'services:\n  child:\n    extends: {file: missing.yml, service: x}\n', 'services.child.extends', /cannot read/)
  refused(tt, 'services:\n  a: {image: i, extends: b}\n  b: {image: i, extends: a}\n', 'services.a.extends', /cycle/)
  // control: extends without our labels is left alone
  tt.equal(injectCompose('services:\n  base: {image: i}\n  child: {extends: base}\n', opts()).providers.length, 0)
  tt.end()
})

t.test('service names that are not provider names are mapped, and the mapping recorded', async (t) => {
  const { parseConfig, getProvider } = await import('../../config/load.js')
  const long = `s${'x'.repeat(70)}`
  const text = `services:\n${['mcp.server', 'mcp-server', '_under', long, 'UPPER.case'].map((n) => `  ${n}:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n`).join('')}`
  const r = injected(t, text)!
  const doc = parse(r.text) as Obj
  const names = r.providers.map((p) => p.provider)
  t.equal(new Set(names).size, names.length, 'provider names are unique')
  t.equal(r.providers.find((p) => p.service === 'mcp-server')?.provider, 'mcp-server', 'a valid name is kept')
  t.match(r.providers.find((p) => p.service === 'mcp.server')?.provider, /^mcp-server-[0-9a-f]{8}$/, 'mcp.server: its own name is taken, so a digest is added')
  t.equal(r.providers.find((p) => p.service === '_under')?.provider, 'under')
  t.equal(doc['x-mcp-hangar'].providers['mcp.server'], r.providers.find((p) => p.service === 'mcp.server')?.provider, 'recorded in x-mcp-hangar.providers')
  for (const p of r.providers) {
    const sc = doc.services[p.sidecar]
    t.ok(sc, `${p.service}: sidecar ${p.sidecar}`)
    t.equal(sc.labels['mcp.hangar.service'], p.service, 'the sidecar names its service')
    t.same(sc.command.slice(-2), ['--provider', p.provider])
    // the sidecar's config is one the sidecar accepts, with this provider in it
    const cfg = parseConfig(String(sc.environment.HANGAR_CONFIG).replace(/\$\$/g, '$'), p.sidecar, { HANGAR_SIGNAL_TOKEN: 's' })
    t.ok(getProvider(cfg.config, p.provider), `${p.provider}: the sidecar config loads`)
    t.ok(p.provider.length <= 63)
  }
  const seen = composeSees(t, r.text)
  if (seen) t.ok(seen.services['hangar-sidecar-under'], 'docker-compose accepts the output')
  t.equal(injectCompose(r.text, opts()).text, r.text, 'idempotent')
})

t.test('profiles: the sidecar starts with its provider', (tt) => {
  const r = injectCompose(file('profiles: [tools]'), opts())
  const doc = parse(r.text) as Obj
  tt.same(doc.services['hangar-sidecar-p'].profiles, ['tools'])
  const seen = composeSees(tt, r.text)
  if (seen) tt.same(seen.services['hangar-sidecar-p'].profiles, ['tools'], 'docker-compose accepts it')
  tt.end()
})

t.test('an override file Compose merges over the output may not touch a provider', async (tt) => {
  const { runComposeInject } = await import('../../cli/compose.js')
  const { execFileSync } = await import('node:child_process')
  const { mkdirSync, existsSync, readFileSync } = await import('node:fs')
  const proj = join(dir, 'override-project')
  mkdirSync(proj)
  const main = join(proj, 'docker-compose.yml')
  const source = 'services:\n  p:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n  web: {image: nginx}\n'
  writeFileSync(main, source)
  writeFileSync(join(proj, 'docker-compose.override.yml'), 'services:\n  p:\n    network_mode: host\n')
  const cmd = { file: main, sidecarImage: 's', aggregatorImage: 'a', seccomp: join(root, 'security/seccomp/mcp-provider.json'), projectName: 'ov' }
  if (python) {
    const merged = execFileSync('docker-compose', ['config'], { cwd: proj, encoding: 'utf8' })
    tt.match(merged, /network_mode: host/, 'control: docker-compose without -f merges the override over the provider')
  }
  const e = tt.throws(() => runComposeInject(cmd, () => {})) as ConfigError
  tt.match(e.issues?.[0], { path: 'services.p', message: /merges this over the isolated provider/ })
  tt.match(e.message, /docker-compose\.override\.yml/, 'names the override file')
  tt.equal(readFileSync(main, 'utf8'), source, 'nothing was written')
  writeFileSync(join(proj, 'docker-compose.override.yml'), 'services:\n  web:\n    labels: {mcp.hangar.enabled: "true"}\n')
  const e2 = tt.throws(() => runComposeInject(cmd, () => {})) as ConfigError
  tt.match(e2.issues?.[0], { path: 'services.web.labels', message: /mcp\.hangar\.enabled/ })
  // control: written under another name, the override is not merged, and an unrelated override is fine
  const out = join(proj, 'docker-compose.hangar.yml')
  runComposeInject({ ...cmd, out }, () => {})
  tt.ok(existsSync(out), 'written with -o')
  writeFileSync(join(proj, 'docker-compose.override.yml'), 'services:\n  web:\n    environment: {A: "1"}\n')
  const lines: string[] = []
  runComposeInject(cmd, (l) => lines.push(l))
  tt.match(readFileSync(main, 'utf8'), /hangar-sidecar-p/, 'an override of another service is fine')
  tt.ok(lines.some((l) => /^p: behind hangar-sidecar-p/.test(l)), 'and the summary says what was done')
})

t.test('a plain << as a value is refused, as PyYAML refuses it', (tt) => {
  const text = 'services:\n  p:\n    image: i\n    command: [<<]\n'
  const seen = python ? composeRead(python, [(writeFileSync(join(dir, 'plain-merge.yml'), text), join(dir, 'plain-merge.yml'))])[0] : undefined
  if (seen) tt.notOk(seen.ok, 'control: docker-compose refuses it')
  refused(tt, text, 'services.p.command[0]', /quote it/)
  tt.end()
})

t.test('the grant summary: the CLI prints each host-access grant', async (tt) => {
  const { formatInjectSummary } = await import('../../cli/compose.js')
  const r = injectCompose(file(`volumes: ["${SOCK}:${SOCK}"]`, { labels: [`mcp.hangar.host-access: "path:${SOCK}"`] }), opts())
  const lines = formatInjectSummary(r, 'out.yml')
  tt.ok(lines.some((l) => l.includes(`HOST ACCESS granted (path:${SOCK}): services.p.volumes[0]`)), lines.join('\n'))
})

t.test('generated names are not the user\'s: neighbours on the internal network, impostors, the sidecar\'s data', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['a service on the provider\'s internal network', file('', { services: '  evil: {image: i, networks: [hangar_p_internal]}\n', more: 'networks:\n  hangar_p_internal: {}\n' }), 'services.evil.networks.hangar_p_internal'],
    ['a user network under that name', file('', { more: 'networks:\n  hangar_p_internal: {internal: false}\n' }), 'networks.hangar_p_internal'],
    ['a service on the control network', file('', { services: '  evil: {image: i, networks: [hangar_control]}\n', more: 'networks:\n  hangar_control: {}\n' }), 'services.evil.networks.hangar_control'],
    ['an alias the sidecar resolves as its provider', file('networks: [front]', { services: '  evil: {image: i, networks: {front: {aliases: [hangar-provider-p]}}}\n', more: 'networks:\n  front: {}\n' }), 'services.evil.networks.front.aliases'],
    ['a service named as the provider\'s upstream', file('', { services: '  hangar-provider-p: {image: i}\n' }), 'services.hangar-provider-p'],
    ['a container_name the sidecar would resolve', file('', { services: '  evil: {image: i, container_name: hangar-provider-p}\n' }), 'services.evil.container_name'],
    ['the sidecar\'s data volume mounted elsewhere', file('', { services: '  evil: {image: i, volumes: ["hangar_p_data:/steal"]}\n', more: 'volumes:\n  hangar_p_data: {}\n' }), 'services.evil.volumes'],
    ['include (Compose v2)', `include: [other.yml]\n${file('')}`, 'include'],
  ]
  for (const [name, text, path] of cases) {
    await t.test(name, async (tt) => {
      refused(tt, text, path, /reserved|only mcp-hangar|included/)
    })
  }
  await t.test('control: docker-compose itself puts the neighbour on that network', async (tt) => {
    const seen = composeSees(tt, file('', { services: '  evil: {image: i, networks: [hangar_p_internal]}\n', more: 'networks:\n  hangar_p_internal: {}\n' }))
    if (seen) tt.ok(seen.services.evil.networks.hangar_p_internal !== undefined || Object.keys(seen.services.evil.networks).includes('hangar_p_internal'))
  })
})

t.test('use_api_socket (Compose v2) is the Docker socket', (tt) => {
  refused(tt, file('use_api_socket: true'), 'services.p.use_api_socket', /path:\/var\/run\/docker\.sock/)
  const r = injectCompose(file('use_api_socket: true', { labels: ['mcp.hangar.host-access: "path:/var/run/docker.sock"'] }), opts())
  tt.equal(r.providers[0]!.hostAccess[0]?.path, 'services.p.use_api_socket', 'granted by name')
  tt.end()
})

t.test('labels where inject does not read them are refused: deploy, build, label_file', (tt) => {
  writeFileSync(join(dir, 'ours.labels'), '# labels\ncom.example.x=1\nmcp.hangar.enabled=true\n')
  writeFileSync(join(dir, 'plain.labels'), 'com.example.x=1\n')
  refused(tt, 'services:\n  q:\n    image: i\n    deploy: {labels: {mcp.hangar.enabled: "true"}}\n', 'services.q.deploy.labels', /move them/)
  refused(tt, 'services:\n  q:\n    image: i\n    build: {context: ., labels: ["mcp.hangar.enabled=true"]}\n', 'services.q.build.labels')
  refused(tt, 'services:\n  q:\n    image: i\n    label_file: ./ours.labels\n', 'services.q.label_file', /mcp\.hangar\.enabled/)
  refused(tt, 'services:\n  q:\n    image: i\n    label_file: [./plain.labels, ./missing.labels]\n', 'services.q.label_file[1]', /cannot read/)
  tt.equal(injectCompose('services:\n  q:\n    image: i\n    label_file: ./plain.labels\n', opts()).providers.length, 0, 'control: a label file without ours is fine')
  tt.end()
})

t.test('label values inject turns into configuration are checked', (tt) => {
  refused(tt, file('', { labels: ['mcp.hangar.path: "/mcp?x=1 #"'] }), 'services.p.labels.mcp.hangar.path', /URL path/)
  for (const subnet of ['127.0.0.0/28', '169.254.1.0/28', '0.0.0.0/16', '224.0.0.0/28']) {
    refused(tt, file('', { labels: [`mcp.hangar.subnet: ${subnet}`] }), 'services.p.labels.mcp.hangar.subnet', /loopback|link-local|multicast/)
  }
  tt.equal(injectCompose(file('', { labels: ['mcp.hangar.path: /v1/mcp', 'mcp.hangar.subnet: 10.99.0.0/28'] }), opts()).providers[0]!.endpoint, 'http://hangar-provider-p:8080/v1/mcp', 'control: a plain path and subnet')
  tt.end()
})

t.test('COMPOSE_FILE in the project .env: the files it merges with the output are checked too', async (tt) => {
  const { runComposeInject } = await import('../../cli/compose.js')
  const { mkdirSync, readFileSync } = await import('node:fs')
  const proj = join(dir, 'compose-file-project')
  mkdirSync(proj)
  const main = join(proj, 'app.yml')
  writeFileSync(main, 'services:\n  p:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n')
  writeFileSync(join(proj, 'extra.yml'), 'services:\n  p:\n    privileged: true\n')
  writeFileSync(join(proj, '.env'), 'COMPOSE_FILE="hangar.yml:extra.yml"\n')
  const cmd = { file: main, out: join(proj, 'hangar.yml'), sidecarImage: 's', aggregatorImage: 'a', seccomp: join(root, 'security/seccomp/mcp-provider.json'), projectName: 'cf' }
  const e = tt.throws(() => runComposeInject(cmd, () => {})) as ConfigError
  tt.match(e.message, /extra\.yml/, 'the merged file is named')
  tt.match(e.issues?.[0], { path: 'services.p' })
  writeFileSync(join(proj, '.env'), 'COMPOSE_FILE=other.yml:extra.yml\n')
  const r = runComposeInject(cmd, () => {})
  tt.equal(r.providers.length, 1, 'control: a COMPOSE_FILE that does not list the output does not matter')
  tt.match(readFileSync(cmd.out, 'utf8'), /hangar-sidecar-p/, 'and the output is written')
})

t.test('a seccomp profile that allows by default is unconfined', (tt) => {
  writeFileSync(join(dir, 'allow-all.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] }))
  refused(tt, file('security_opt: ["seccomp=./allow-all.json"]'), 'services.p.security_opt[0]', /mcp\.hangar\.host-access: "unconfined"/)
  refused(tt, file(`security_opt: ["seccomp:${join(dir, 'allow-all.json')}"]`), 'services.p.security_opt[0]')
  const strict = injectCompose(file(`security_opt: ["seccomp=${join(root, 'security/seccomp/mcp-provider.json')}"]`), opts())
  tt.same(strict.providers[0]!.hostAccess, [], 'control: the shipped allowlist profile needs no grant')
  tt.end()
})

t.test('a service named aggregator does not share the aggregator\'s volume', (tt) => {
  const r = injectCompose('services:\n  aggregator:\n    image: i\n    expose: [8080]\n    labels: {mcp.hangar.enabled: "true"}\n', opts())
  const p = r.providers[0]!
  tt.not(p.provider, 'aggregator', `mapped to ${p.provider}`)
  const doc = parse(r.text) as Obj
  tt.not(doc.services[p.sidecar].volumes[0].split(':')[0], doc.services['hangar-aggregator'].volumes[0].split(':')[0], 'separate data volumes')
  tt.end()
})

t.test('any Unix socket of the host is a channel around the sidecar', async (tt) => {
  const { createServer } = await import('node:net')
  const sock = join(dir, 'agent')
  const server = createServer()
  await new Promise<void>((res) => server.listen(sock, res))
  tt.teardown(() => new Promise<void>((res) => server.close(() => res())))
  refused(tt, file('volumes: ["./agent:/agent"]'), 'services.p.volumes[0]', /Unix socket/)
  for (const v of ['/run/user/1000/ssh-agent.socket:/a', '/srv/mysql/mysqld.sock:/m', '/tmp/.X11-unix:/tmp/.X11-unix']) {
    refused(tt, file(`volumes: ["${v}"]`), 'services.p.volumes[0]')
  }
  tt.same(injectCompose(file('volumes: ["./data:/data"]'), opts()).providers[0]!.hostAccess, [], 'control: a plain directory')
})

t.test('relative paths are checked from where Compose may resolve them', (tt) => {
  const deep = join(dir, 'd1', 'd2', 'd3', 'd4', 'd5', 'd6')
  const src = { source: join(deep, 'docker-compose.yml') }
  // harmless from the file's own directory, /etc from a shallower one: enough ../ reach / from anywhere
  const climb = file('volumes: ["../../../../etc:/e"]')
  let err: unknown
  try {
    injectCompose(climb, opts(src))
  } catch (e) {
    err = e
  }
  tt.ok(err instanceof ConfigError && err.issues.some((i) => i.path === 'services.p.volumes[0]' && /\/etc/.test(i.message)), 'a climbing path is checked as if it reached /')
  // written to another directory, the output's relative paths resolve there
  const e2 = tt.throws(() => injectCompose(file('volumes: ["./../docker:/d"]'), opts({ outputDir: '/var/lib/app' }))) as ConfigError
  tt.match(e2.issues.find((i) => i.path === 'services.p.volumes[0]')?.message, /\/var\/lib\/docker.*resolved from \/var\/lib\/app/)
  tt.same(injectCompose(file('volumes: ["./../docker:/d"]'), opts()).providers[0]!.hostAccess, [], 'control: from the file\'s own directory it is harmless')
  tt.end()
})
