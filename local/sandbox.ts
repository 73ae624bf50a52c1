/**
 * The private process and file view of a subprocess provider under `mcp-hangar up` (isolation
 * `netns`). The provider runs as
 *
 *   sh (joins the provider's cgroups) → ip netns exec <ns> → bwrap (PID, mount, IPC, UTS, cgroup
 *   namespaces; a file view built from read-only binds) → setpriv (the provider's own uid/gid, no
 *   supplementary groups, no capabilities, no_new_privs) → the provider's command
 *
 * Each step `exec`s the next, so the sidecar's child is bwrap itself: `--die-with-parent` ties the
 * sandbox to the sidecar, and when the sandbox's PID 1 (bwrap's reaper) ends, the kernel kills every
 * process left in its PID namespace (pid_namespaces(7)), `setsid -f` children included.
 *
 * Why bubblewrap: it is the one well-kept tool that builds a whole file view (tmpfs root, binds,
 * `/proc` for the new PID namespace, a minimal `/dev`) in one exec without a shell script, and it is
 * what Flatpak and many CI sandboxes run. util-linux `unshare` can make the namespaces, but the
 * mounts would need a shell script of `mount` calls.
 *
 * This file has two halves: {@link resolveSandbox} looks at the file system (which argv entries
 * are paths, where a package's root is) and {@link sandboxArgv} turns the result into argv, purely.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { z } from 'zod'
import { ERROR_CODES, HangarError } from '../core/errors.js'

/** Where `setpriv` lives (util-linux); the same path inside the sandbox (under /usr). */
export const SETPRIV = '/usr/bin/setpriv'

/** Default size of the provider's private `/tmp` (a tmpfs), bytes: 256 MiB. */
export const DEFAULT_TMP_BYTES = 256 * 1024 * 1024

/**
 * The shell step that moves itself into each `cgroup.procs` file named before `--`, then execs the
 * rest (`sh -c SCRIPT hangar-cgroup FILE… -- CMD…`). Writing `0` to `cgroup.procs` moves the writer
 * (cgroups(7)); every process forked afterwards starts in that cgroup. Arguments are positional,
 * never spliced into the script. Exit 125 when a file cannot be written.
 */
export const CGROUP_JOIN_SCRIPT = 'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo 0 >"$1" || exit 125; shift; done; shift; exec "$@"'

/** Top-level directories bound read-only when they exist (directories), or re-created as symlinks (merged /usr). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const

/**
 * Entries of `/etc` a program may need to run, resolve names and verify TLS; each is bound
 * read-only when it exists. The rest of `/etc` is not visible. `passwd`, `group`, `hosts` and
 * `resolv.conf` come from the sandbox's own files instead.
 */
export const ETC_ENTRIES = [
  'alternatives', 'ca-certificates', 'ca-certificates.conf', 'crypto-policies', 'gai.conf', 'host.conf', 'ld.so.cache', 'ld.so.conf',
  'ld.so.conf.d', 'localtime', 'mime.types', 'nsswitch.conf', 'os-release', 'pki', 'protocols', 'services', 'ssl', 'timezone',
] as const

/**
 * Directories never exposed because an argv entry pointed into them: they hold other users' files
 * and sockets. A provider that needs one lists it under `capabilities.filesystem.read_paths`.
 */
export const NEVER_AUTO_EXPOSED = ['/', '/etc', '/root', '/home', '/run', '/var', '/var/run', '/tmp', '/var/tmp', '/dev', '/proc', '/sys', '/srv', '/mnt', '/media'] as const

/** Marker files of a project root (node, python, go, rust, deno). */
const PROJECT_MARKERS = ['package.json', 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', 'go.mod', 'Cargo.toml', 'deno.json']

/** The provider's complete sandbox, as `up` writes it for the sidecar (JSON, `<run dir>/sandbox-<provider>.json`). */
export interface SandboxSpec {
  /** The provider (logs, hostname). */
  provider: string
  /** The provider's network namespace (`ip netns` name). */
  netns: string
  uid: number
  gid: number
  /** `cgroup.procs` files the provider joins before anything else runs (empty: no cgroup). */
  cgroupProcs: string[]
  /** The provider's working directory inside the sandbox (created empty when not exposed). */
  cwd: string
  /** Bound read-only, at the same path. */
  readPaths: string[]
  /** Bound read-write, at the same path. */
  writePaths: string[]
  /** Existing directories under an exposed path, hidden behind an empty tmpfs. */
  hideDirs: string[]
  /** Existing files under an exposed path, hidden behind /dev/null. */
  hideFiles: string[]
  /** Files shown at these paths: `/etc/passwd`, `/etc/group`, `/etc/resolv.conf`, `/etc/hosts` → host files. */
  files: Record<string, string>
  /** Existing `/etc` entries bound read-only (see {@link ETC_ENTRIES}). */
  etc: string[]
  /** Top-level system paths: directories bound read-only, symlinks re-created. */
  system: Array<{ path: string; symlink?: string }>
  /** Environment set inside the sandbox (HOME, TMPDIR, USER, LOGNAME unless the provider's env sets them). */
  setenv: Record<string, string>
  /** Size of the private /tmp, bytes. */
  tmpBytes: number
}

const absPath = z.string().regex(/^\/[^\0]*$/, 'expected an absolute path')

/** The schema of a {@link SandboxSpec} file (strict: a spec with an unknown key is refused). */
export const sandboxSpecSchema = z
  .object({
    provider: z.string().min(1),
    netns: z.string().regex(/^hg-[0-9a-f]{8}$/),
    uid: z.number().int().positive(),
    gid: z.number().int().positive(),
    cgroupProcs: z.array(absPath),
    cwd: absPath,
    readPaths: z.array(absPath),
    writePaths: z.array(absPath),
    hideDirs: z.array(absPath),
    hideFiles: z.array(absPath),
    files: z.record(absPath, absPath),
    etc: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)),
    system: z.array(z.object({ path: absPath, symlink: z.string().optional() }).strict()),
    setenv: z.record(z.string()),
    tmpBytes: z.number().int().positive(),
  })
  .strict()

/**
 * Reads the spec `up` wrote for a sidecar.
 * @throws HangarError `HANGAR_USAGE` naming the file and the first bad field
 */
export function readSandboxSpec(file: string): SandboxSpec {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new HangarError(ERROR_CODES.USAGE, `--sandbox ${file}: ${(err as Error).message}`)
  }
  const r = sandboxSpecSchema.safeParse(raw)
  if (!r.success) throw new HangarError(ERROR_CODES.USAGE, `--sandbox ${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  return r.data as SandboxSpec
}

/**
 * The argv prefix that runs a command in the sandbox (the command is appended after it). Pure.
 * Order matters to bwrap: later mounts cover earlier ones, so the hiding comes after the binds.
 */
export function sandboxArgv(s: SandboxSpec): string[] {
  const a: string[] = []
  if (s.cgroupProcs.length) a.push('sh', '-c', CGROUP_JOIN_SCRIPT, 'hangar-cgroup', ...s.cgroupProcs, '--')
  a.push('ip', 'netns', 'exec', s.netns)
  a.push('bwrap', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--hostname', hostnameOf(s.provider))
  for (const sys of s.system) {
    if (sys.symlink !== undefined) a.push('--symlink', sys.symlink, sys.path)
    else a.push('--ro-bind', sys.path, sys.path)
  }
  a.push('--perms', '0755', '--dir', '/etc')
  for (const e of s.etc) a.push('--ro-bind', join('/etc', e), join('/etc', e))
  for (const [dest, src] of Object.entries(s.files).sort(([x], [y]) => x.localeCompare(y))) a.push('--ro-bind', src, dest)
  a.push('--proc', '/proc', '--dev', '/dev')
  a.push('--perms', '1777', '--size', String(s.tmpBytes), '--tmpfs', '/tmp')
  // bwrap makes missing parents of a mount point 0700 (root's): made here first, 0755, so the
  // provider can walk to what it is shown.
  const parents = parentDirs(s)
  for (const d of parents) a.push('--perms', '0755', '--dir', d)
  for (const p of s.readPaths) a.push('--ro-bind', p, p)
  for (const p of s.writePaths) a.push('--bind', p, p)
  for (const d of s.hideDirs) a.push('--perms', '0000', '--tmpfs', d)
  for (const f of s.hideFiles) a.push('--ro-bind', '/dev/null', f)
  if (!isExposed(s.cwd, [...s.readPaths, ...s.writePaths]) && !parents.includes(s.cwd)) a.push('--perms', '0755', '--dir', s.cwd)
  a.push('--chdir', s.cwd)
  for (const [k, v] of Object.entries(s.setenv).sort(([x], [y]) => x.localeCompare(y))) a.push('--setenv', k, v)
  // setpriv needs these three to drop to the provider's identity; it then drops every capability.
  a.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP', '--')
  a.push(SETPRIV, `--reuid=${s.uid}`, `--regid=${s.gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--')
  return a
}

/** Pure: the directories above every exposed path and the cwd that the sandbox's root lacks, parents first. */
export function parentDirs(s: Pick<SandboxSpec, 'readPaths' | 'writePaths' | 'cwd' | 'system'>): string[] {
  const have = ['/etc', '/proc', '/dev', '/tmp', ...s.system.map((x) => x.path)]
  const systemDirs = s.system.filter((x) => x.symlink === undefined).map((x) => x.path)
  const exposed = [...s.readPaths, ...s.writePaths]
  const out = new Set<string>()
  for (const p of [...exposed, s.cwd]) {
    for (let d = dirname(p); d !== '/' && d !== '.'; d = dirname(d)) {
      // What exists already: the sandbox's own top directories, anything inside a bound system
      // directory or another exposed path. A directory inside the private /tmp does not.
      if (have.includes(d) || isExposed(d, systemDirs) || isExposed(d, exposed)) break
      out.add(d)
    }
  }
  return [...out].sort((x, y) => x.split('/').length - y.split('/').length || x.localeCompare(y))
}

/** A hostname for the sandbox's UTS namespace: the provider name cut to 63 letters, digits and dashes (RFC 1123). */
export function hostnameOf(provider: string): string {
  const h = provider.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63)
  return h || 'provider'
}

/** True when `p` is one of `roots` or lies under one. Pure (string paths, absolute). */
export function isExposed(p: string, roots: readonly string[]): boolean {
  return roots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep))
}

/** What {@link resolveSandbox} needs to know of the provider and of `up`'s run. */
export interface SandboxInput {
  provider: string
  netns: string
  uid: number
  gid: number
  cgroupProcs: string[]
  /** The provider's argv (`command`), unresolved. */
  command: readonly string[]
  /** The directory relative argv entries resolve against (the provider's `cwd`). */
  cwd: string
  /** True when the provider's `cwd` was set in its config (then it is exposed read-only). */
  cwdConfigured: boolean
  /** The PATH the provider's command is looked up in. */
  path: string
  /** `capabilities.filesystem.read_paths` / `write_paths`, absolute. */
  readPaths: readonly string[]
  writePaths: readonly string[]
  /** Never visible: the config file, every data dir, the run dir, other providers' working dirs. */
  protect: readonly string[]
  /** Environment values the provider gets (inherited and configured): files named by CA variables are exposed. */
  env: Readonly<Record<string, string | undefined>>
  /** Keys the provider's own `env` sets (they win over the sandbox's HOME, TMPDIR, USER, LOGNAME). */
  configuredEnv: readonly string[]
  /** The sandbox's passwd, group, resolv.conf and hosts files on the host. */
  files: { passwd: string; group: string; resolvConf: string; hosts: string }
  tmpBytes?: number
}

/** A path `up` chose not to expose, and why (printed as a warning). */
export interface SandboxNote {
  path: string
  why: string
}

/**
 * Decides what the provider sees: the system directories, the files its argv names (the topmost
 * `node_modules` a script lives in, so hoisted dependencies resolve; the install prefix of a
 * `…/bin/x` executable, so a virtualenv keeps its site-packages; else the nearest project root,
 * else the file's directory; a directory argument as itself), its configured `cwd`, declared
 * `read_paths`/`write_paths`, and CA files named by `NODE_EXTRA_CA_CERTS`/`SSL_CERT_FILE`. Paths
 * under {@link NEVER_AUTO_EXPOSED} tops are not exposed for an argv entry; protected paths under an
 * exposed one are hidden. Reads the file system (lstat, realpath), never writes.
 */
export function resolveSandbox(i: SandboxInput): { spec: SandboxSpec; notes: SandboxNote[] } {
  const notes: SandboxNote[] = []
  const system: SandboxSpec['system'] = []
  for (const p of SYSTEM_DIRS) {
    const st = lstatOrUndefined(p)
    if (!st) continue
    if (st.isSymbolicLink()) system.push({ path: p, symlink: realLink(p) })
    else if (st.isDirectory()) system.push({ path: p })
  }
  const systemDirs = system.filter((s) => s.symlink === undefined).map((s) => s.path)
  const underSystem = (p: string) => isExposed(p, systemDirs)

  const read = new Set<string>()
  const addAuto = (p: string, from: string) => {
    if ((NEVER_AUTO_EXPOSED as readonly string[]).includes(p)) {
      notes.push({ path: p, why: `${from} points into ${p}, which is never exposed automatically; list what the provider needs under capabilities.filesystem.read_paths` })
      return
    }
    if (!underSystem(p)) read.add(p)
  }
  const argvPaths = [...commandPath(i.command[0], i.cwd, i.path), ...i.command.slice(1).map((a) => argPath(a, i.cwd))]
  for (const p of argvPaths) {
    if (!p) continue
    for (const variant of new Set([p, realOrSelf(p)])) {
      const root = exposureRoot(variant)
      if (root) addAuto(root, `the command argument ${p}`)
    }
  }
  if (i.cwdConfigured) addAuto(i.cwd, `cwd ${i.cwd}`)
  for (const name of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) {
    const v = i.env[name]
    if (v && isAbsolute(v) && existsSync(v) && !underSystem(v) && !isExposed(v, ['/etc'])) read.add(v)
  }
  for (const p of i.readPaths) read.add(p)
  const write = new Set(i.writePaths)
  for (const p of write) read.delete(p)
  const readPaths = collapse([...read]).filter((p) => !isExposed(p, [...write]))
  const writePaths = collapse([...write])
  const exposed = [...readPaths, ...writePaths]

  const hideDirs: string[] = []
  const hideFiles: string[] = []
  for (const p of new Set(i.protect)) {
    if (!isExposed(p, exposed)) continue
    const st = lstatOrUndefined(p)
    if (!st) continue
    if (st.isDirectory()) hideDirs.push(p)
    else hideFiles.push(p)
    // A protected path that *contains* an exposed one cannot be hidden without hiding that too.
  }
  for (const p of exposed) {
    const inside = i.protect.find((q) => isExposed(p, [q]))
    if (inside) notes.push({ path: p, why: `${p} lies inside ${inside}, which holds hangar's own files; it is exposed as asked, the rest of ${inside} is not` })
  }

  const etc = ETC_ENTRIES.filter((e) => existsSync(join('/etc', e)))
  const setenv: Record<string, string> = {}
  const user = `hangar-${hostnameOf(i.provider)}`.slice(0, 32)
  for (const [k, v] of Object.entries({ HOME: '/tmp', TMPDIR: '/tmp', USER: user, LOGNAME: user })) if (!i.configuredEnv.includes(k)) setenv[k] = v
  return {
    spec: {
      provider: i.provider,
      netns: i.netns,
      uid: i.uid,
      gid: i.gid,
      cgroupProcs: [...i.cgroupProcs],
      cwd: i.cwd,
      readPaths: readPaths.sort(),
      writePaths: writePaths.sort(),
      hideDirs: hideDirs.sort(),
      hideFiles: hideFiles.sort(),
      files: { '/etc/passwd': i.files.passwd, '/etc/group': i.files.group, '/etc/resolv.conf': i.files.resolvConf, '/etc/hosts': i.files.hosts },
      etc: [...etc],
      system,
      setenv,
      tmpBytes: i.tmpBytes ?? DEFAULT_TMP_BYTES,
    },
    notes,
  }
}

/**
 * The directory to expose for one existing path. Pure but for `existsSync` on marker files:
 * the topmost `node_modules` on the path; the prefix of `…/bin/<exe>`; a directory itself; the
 * nearest project root of a file (≤ 4 levels up), else its directory.
 */
export function exposureRoot(p: string): string | undefined {
  const st = statOrUndefined(p)
  if (!st) return undefined
  const parts = p.split(sep)
  const nm = parts.indexOf('node_modules')
  if (nm > 0) return parts.slice(0, nm + 1).join(sep) || sep
  if (st.isDirectory()) return p
  const dir = dirname(p)
  if (dir.endsWith(`${sep}bin`) && dir !== '/bin' && dir !== '/usr/bin' && dir !== '/usr/local/bin') return dirname(dir)
  let d = dir
  for (let up = 0; up < 4 && d !== sep; up++, d = dirname(d)) {
    if (PROJECT_MARKERS.some((m) => existsSync(join(d, m)))) return d
  }
  return dir
}

/** Drops paths under another path of the list. Pure. */
export function collapse(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length)
  const out: string[] = []
  for (const p of sorted) if (!isExposed(p, out)) out.push(p)
  return out
}

/** The absolute path of the executable `cmd` (as execvp finds it in `path`), or undefined. */
function commandPath(cmd: string | undefined, cwd: string, path: string): Array<string | undefined> {
  if (!cmd) return []
  if (cmd.includes('/')) return [argPath(cmd, cwd)]
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const p = resolve(cwd, dir, cmd)
    if (statOrUndefined(p)?.isFile()) return [p]
  }
  return []
}

/** An argv entry as an existing absolute path (relative ones against `cwd`; `--x=/p` style too), or undefined. */
function argPath(arg: string, cwd: string): string | undefined {
  const v = /^--?[A-Za-z0-9-]+=(.+)$/.exec(arg)?.[1] ?? arg
  if (!v || v.includes('\0') || (!v.startsWith('/') && !v.startsWith('.') && !v.includes('/'))) return undefined
  const p = resolve(cwd, v)
  return existsSync(p) ? p : undefined
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p)
  } catch {
    return undefined
  }
}

function statOrUndefined(p: string) {
  try {
    return statSync(p)
  } catch {
    return undefined
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}

/** The target of a top-level symlink such as `/lib -> usr/lib`, as written. */
function realLink(p: string): string {
  const real = realOrSelf(p)
  return real.startsWith('/') ? real.slice(1) : real
}
