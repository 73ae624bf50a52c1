/**
 * One identity (uid = gid) per subprocess provider under `mcp-hangar up`, so that no provider can
 * read another's `/proc/<pid>/environ`, `ptrace` it or signal it, even where a shared view would
 * otherwise allow it (same-uid rules, ptrace(2) "Ptrace access mode checking").
 *
 * The range is {@link PROVIDER_UID_BASE} … +{@link PROVIDER_UID_COUNT}−1 (2046820352–2046885887,
 * 0x7A000000–0x7A00FFFF): above every range a distribution hands out (useradd's UID_MAX 60000,
 * systemd's dynamic users 61184–65519, subordinate ranges from 100000, systemd-nspawn's container
 * ranges up to 0x6FFFFFFF), below systemd's "foreign" range 0x7FFE0000 and below 2^31 (tools that
 * read uids as signed 32-bit numbers still work). A provider's uid is derived from its plan key
 * (config path + provider name), so it is the same in every run and files it wrote in its
 * `write_paths` stay its own; the next free uid is taken when the derived one is in /etc/passwd,
 * /etc/group, a subordinate range of /etc/subuid or /etc/subgid, used by a running process, or
 * already given to another provider of this run.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export const PROVIDER_UID_BASE = 0x7a000000
export const PROVIDER_UID_COUNT = 0x10000

/** A uid, or a range [from, from+count), that must not be used. */
export type Reserved = { from: number; count: number }

/**
 * Picks a provider's uid: the derived one, else the next free one in the range. Pure.
 * @param key the provider's plan key (8 hex digits, local/plan.ts `planKey`)
 * @param taken uids already given to providers of this run
 * @param reserved uids and ranges in use on the host ({@link hostReserved})
 * @throws Error when every uid of the range is taken
 */
export function pickProviderUid(key: string, taken: ReadonlySet<number>, reserved: readonly Reserved[]): number {
  const start = Number.parseInt(key, 16) % PROVIDER_UID_COUNT
  for (let i = 0; i < PROVIDER_UID_COUNT; i++) {
    const uid = PROVIDER_UID_BASE + ((start + i) % PROVIDER_UID_COUNT)
    if (taken.has(uid)) continue
    if (reserved.some((r) => uid >= r.from && uid < r.from + r.count)) continue
    return uid
  }
  throw new Error(`no free uid left in ${PROVIDER_UID_BASE}-${PROVIDER_UID_BASE + PROVIDER_UID_COUNT - 1}`)
}

/** True when `uid` lies in the providers' range. Pure. */
export function isProviderUid(uid: number): boolean {
  return uid >= PROVIDER_UID_BASE && uid < PROVIDER_UID_BASE + PROVIDER_UID_COUNT
}

/**
 * Pure: the ids of `passwd`/`group`-format text (field 3) and the ranges of `subuid`/`subgid`-format
 * text (`name:from:count`).
 */
export function parseIdFiles(o: { passwd?: string; group?: string; subuid?: string; subgid?: string }): Reserved[] {
  const out: Reserved[] = []
  for (const text of [o.passwd, o.group]) {
    for (const line of (text ?? '').split('\n')) {
      const id = Number(line.split(':')[2])
      if (line.trim() && Number.isInteger(id)) out.push({ from: id, count: 1 })
    }
  }
  for (const text of [o.subuid, o.subgid]) {
    for (const line of (text ?? '').split('\n')) {
      const [, from, count] = line.split(':').map(Number)
      if (Number.isInteger(from) && Number.isInteger(count) && count! > 0) out.push({ from: from!, count: count! })
    }
  }
  return out
}

/**
 * What the host already uses: ids of /etc/passwd and /etc/group, the subordinate ranges, and the
 * real uids of running processes (`up` cleans its own leftovers before it asks). Reads /etc and /proc.
 */
export function hostReserved(): Reserved[] {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8')
    } catch {
      return ''
    }
  }
  const out = parseIdFiles({ passwd: read('/etc/passwd'), group: read('/etc/group'), subuid: read('/etc/subuid'), subgid: read('/etc/subgid') })
  for (const uid of runningUids()) out.push({ from: uid, count: 1 })
  return out
}

/** The real uids of every running process (from /proc/<pid>/status). */
export function runningUids(): Set<number> {
  const uids = new Set<number>()
  for (const { uid } of processes()) uids.add(uid)
  return uids
}

/** Every process: its pid and real uid (from /proc/<pid>/status); processes that exit meanwhile are skipped. */
export function processes(): Array<{ pid: number; uid: number }> {
  const out: Array<{ pid: number; uid: number }> = []
  let names: string[] = []
  try {
    names = readdirSync('/proc')
  } catch {
    return out
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))
      if (m) out.push({ pid: Number(name), uid: Number(m[1]) })
    } catch {
      /* exited */
    }
  }
  return out
}

/**
 * The sandbox's `/etc/passwd` and `/etc/group`: root, nobody and the provider's own account
 * (`hangar-<name>`, home /tmp, no shell), so programs that look their user up (Node's
 * `os.userInfo()`, Python's `getpass`) work and the host's accounts stay unlisted. Pure.
 */
export function sandboxAccounts(user: string, uid: number, gid: number): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n${user}:x:${uid}:${gid}:MCP Hangar provider:/tmp:/usr/sbin/nologin\n`,
    group: `root:x:0:\nnogroup:x:65534:\n${user}:x:${gid}:\n`,
  }
}

/** How {@link resolveRunAs} looks names up: a user's uid or primary gid, a group's gid; NaN when unknown. */
export type IdLookup = (kind: 'user-uid' | 'user-gid' | 'group-gid', name: string) => number

/**
 * The uid and gid of an explicit `--run-as` identity: `user`, `uid`, `user:group` or `uid:gid`
 * (a group defaults to the user's primary group, a bare uid's group to the same number).
 * @throws Error when a name is unknown, or for root
 */
export function resolveRunAs(spec: string, lookup: IdLookup): { uid: number; gid: number } {
  const [u, g] = spec.split(':') as [string, string | undefined]
  const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined)
  const uid = num(u) ?? lookup('user-uid', u)
  const gid = g !== undefined ? (num(g) ?? lookup('group-gid', g)) : num(u) !== undefined ? uid : lookup('user-gid', u)
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`--run-as ${spec}: unknown user or group`)
  if (uid === 0 || gid === 0) throw new Error(`--run-as ${spec}: providers never run as root`)
  return { uid, gid }
}

/** {@link IdLookup} with `id` and `getent` (no shell). */
export function systemIdLookup(kind: 'user-uid' | 'user-gid' | 'group-gid', name: string): number {
  try {
    if (kind === 'group-gid') return Number(execFileSync('getent', ['group', name], { encoding: 'utf8', timeout: 5000 }).split(':')[2])
    return Number(execFileSync('id', [kind === 'user-uid' ? '-u' : '-g', name], { encoding: 'utf8', timeout: 5000 }).trim())
  } catch {
    return Number.NaN
  }
}
