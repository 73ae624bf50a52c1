// local/identity.ts: one uid per subprocess provider in 0x7A000000-0x7A00FFFF, derived from its plan
// key, skipping uids the host or the run uses; the host's reserved ids; the sandbox's passwd and
// group; --run-as resolution (never root).
import { spawn } from 'node:child_process'
import t from 'tap'
import { PROVIDER_UID_BASE, PROVIDER_UID_COUNT, hostReserved, isProviderUid, parseIdFiles, pickProviderUid, processes, resolveRunAs, runningUids, sandboxAccounts, systemIdLookup, type IdLookup } from '../../local/identity.js'

t.test('the range: above distribution ranges, below 2^31 and the foreign range', async (t) => {
  t.equal(PROVIDER_UID_BASE, 0x7a000000)
  t.ok(PROVIDER_UID_BASE + PROVIDER_UID_COUNT - 1 < 0x7ffe0000)
  t.ok(isProviderUid(PROVIDER_UID_BASE))
  t.ok(isProviderUid(PROVIDER_UID_BASE + PROVIDER_UID_COUNT - 1))
  t.notOk(isProviderUid(PROVIDER_UID_BASE - 1))
  t.notOk(isProviderUid(PROVIDER_UID_BASE + PROVIDER_UID_COUNT))
  t.notOk(isProviderUid(0))
  t.notOk(isProviderUid(65534))
})

t.test('pickProviderUid: derived from the key, stable, next free when taken or reserved', async (t) => {
  const derived = PROVIDER_UID_BASE + (0x0000abcd % PROVIDER_UID_COUNT)
  t.equal(pickProviderUid('0000abcd', new Set(), []), derived)
  t.equal(pickProviderUid('0000abcd', new Set(), []), derived, 'same key, same uid')
  t.equal(pickProviderUid('1234abcd', new Set(), []), derived, 'only the low 16 bits count')
  t.equal(pickProviderUid('0000abcd', new Set([derived]), []), derived + 1, 'taken by another provider of the run')
  t.equal(pickProviderUid('0000abcd', new Set(), [{ from: derived, count: 3 }]), derived + 3, 'inside a reserved range')
  t.equal(pickProviderUid('0000abcd', new Set([derived + 3]), [{ from: derived, count: 3 }]), derived + 4, 'both')
})

t.test('pickProviderUid wraps around the end of the range and fails when all is taken', async (t) => {
  const last = PROVIDER_UID_BASE + PROVIDER_UID_COUNT - 1
  t.equal(pickProviderUid('0000ffff', new Set(), []), last)
  t.equal(pickProviderUid('0000ffff', new Set([last]), []), PROVIDER_UID_BASE, 'wrapped to the start')
  t.throws(() => pickProviderUid('00000000', new Set(), [{ from: PROVIDER_UID_BASE, count: PROVIDER_UID_COUNT }]), /no free uid left in 2046820352-2046885887/)
})

t.test('parseIdFiles: ids of passwd/group, ranges of subuid/subgid; junk skipped', async (t) => {
  const r = parseIdFiles({
    passwd: 'root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n\nbroken-line\n',
    group: 'wheel:x:10:\n',
    subuid: 'bob:100000:65536\nbad:x:y\nzero:5:0\n',
    subgid: 'bob:200000:10\n',
  })
  t.strictSame(r, [{ from: 0, count: 1 }, { from: 1000, count: 1 }, { from: 10, count: 1 }, { from: 100000, count: 65536 }, { from: 200000, count: 10 }])
  t.strictSame(parseIdFiles({}), [])
})

t.test('processes and runningUids see a real child with its uid; hostReserved includes root', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise((r) => child.once('spawn', r))
  const me = processes().find((p) => p.pid === child.pid)
  t.strictSame(me, { pid: child.pid, uid: process.getuid!() })
  t.ok(runningUids().has(process.getuid!()))
  const reserved = hostReserved()
  t.ok(reserved.some((r) => r.from === 0 && r.count === 1), 'root of /etc/passwd')
  t.ok(reserved.some((r) => r.from === process.getuid!()), 'our own uid as a running process')
  const uid = pickProviderUid('00001234', new Set(), reserved)
  t.ok(isProviderUid(uid))
  t.notOk(reserved.some((r) => uid >= r.from && uid < r.from + r.count), 'the picked uid is free on this host')
})

t.test('sandboxAccounts: root, nobody and the provider only', async (t) => {
  const a = sandboxAccounts('hangar-fetch', 2046820400, 2046820400)
  t.strictSame(a.passwd.trim().split('\n').map((l) => l.split(':')[0]), ['root', 'nobody', 'hangar-fetch'])
  t.match(a.passwd, /^hangar-fetch:x:2046820400:2046820400:MCP Hangar provider:\/tmp:\/usr\/sbin\/nologin$/m)
  t.strictSame(a.group.trim().split('\n'), ['root:x:0:', 'nogroup:x:65534:', 'hangar-fetch:x:2046820400:'])
})

t.test('resolveRunAs: names and numbers, default groups, unknowns and root refused', async (t) => {
  const table: Record<string, number> = { 'user-uid:alice': 1001, 'user-gid:alice': 1002, 'group-gid:staff': 50, 'user-uid:root': 0, 'user-gid:root': 0, 'group-gid:root': 0 }
  const lookup: IdLookup = (kind, name) => table[`${kind}:${name}`] ?? Number.NaN
  t.strictSame(resolveRunAs('alice', lookup), { uid: 1001, gid: 1002 }, "the user's primary group")
  t.strictSame(resolveRunAs('alice:staff', lookup), { uid: 1001, gid: 50 })
  t.strictSame(resolveRunAs('1500', lookup), { uid: 1500, gid: 1500 }, 'a bare uid: the same gid')
  t.strictSame(resolveRunAs('1500:60', lookup), { uid: 1500, gid: 60 })
  t.strictSame(resolveRunAs('1500:staff', lookup), { uid: 1500, gid: 50 })
  t.throws(() => resolveRunAs('mallory', lookup), /--run-as mallory: unknown user or group/)
  t.throws(() => resolveRunAs('alice:nogrp', lookup), /unknown user or group/)
  for (const spec of ['root', '0', '1500:0', 'alice:root', '0:50']) t.throws(() => resolveRunAs(spec, lookup), /providers never run as root/, spec)
})

t.test('systemIdLookup asks the system (id, getent)', async (t) => {
  t.equal(systemIdLookup('user-uid', 'root'), 0)
  t.equal(systemIdLookup('group-gid', 'root'), 0)
  t.equal(systemIdLookup('user-uid', 'nobody'), 65534)
  t.ok(Number.isNaN(systemIdLookup('user-uid', 'no-such-user-hangar')))
  t.ok(Number.isNaN(systemIdLookup('group-gid', 'no-such-group-hangar')))
  t.throws(() => resolveRunAs('root', systemIdLookup), /never run as root/)
  t.strictSame(resolveRunAs('nobody', systemIdLookup).uid, 65534)
})
