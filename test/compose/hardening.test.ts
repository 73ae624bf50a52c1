// compose/hardening.ts: the hardening defaults an isolated provider gets, each only when the
// service does not set that key itself.
import t from 'tap'
import { HARDENING_DEFAULTS, harden } from '../../compose/hardening.js'
import { LABEL } from '../../compose/labels.js'

const o = { seccompProfile: '/opt/seccomp.json' }

t.test('a bare service gets every default', async (t) => {
  const { service, added } = harden({ image: 'x' }, {}, o)
  t.strictSame(service, {
    image: 'x',
    cap_drop: ['ALL'],
    read_only: true,
    tmpfs: ['/tmp'],
    security_opt: ['no-new-privileges:true', 'seccomp=/opt/seccomp.json'],
    pids_limit: HARDENING_DEFAULTS.pidsLimit,
    mem_limit: HARDENING_DEFAULTS.memLimit,
    user: HARDENING_DEFAULTS.user,
  })
  t.strictSame(added, ['cap_drop', 'read_only', 'tmpfs', 'no-new-privileges', 'seccomp', 'pids_limit', 'mem_limit', 'user'])
})

t.test('an AppArmor profile is added when given', async (t) => {
  const { service, added } = harden({}, {}, { ...o, apparmorProfile: 'mcp-provider' })
  t.strictSame(service.security_opt, ['no-new-privileges:true', 'seccomp=/opt/seccomp.json', 'apparmor=mcp-provider'])
  t.ok(added.includes('apparmor'))
})

t.test('keys the service sets are kept, even when weaker', async (t) => {
  const mine = { cap_drop: ['NET_RAW'], read_only: false, tmpfs: [], pids_limit: 10, mem_limit: '1g', user: 'root' }
  const { service, added } = harden(mine, {}, o)
  for (const [k, v] of Object.entries(mine)) t.strictSame(service[k], v, k)
  t.strictSame(added, ['no-new-privileges', 'seccomp'])
})

t.test('security_opt: existing entries recognised regardless of spacing and case, others kept', async (t) => {
  const { service, added } = harden({ security_opt: ['No-New-Privileges: true', 'label=disable'] }, {}, { ...o, apparmorProfile: 'p' })
  t.strictSame(service.security_opt, ['No-New-Privileges: true', 'label=disable', 'seccomp=/opt/seccomp.json', 'apparmor=p'])
  t.notOk(added.includes('no-new-privileges'))
  const all = harden({ security_opt: ['seccomp=mine.json', 'no-new-privileges', 'apparmor=x'] }, {}, { ...o, apparmorProfile: 'p' })
  t.strictSame(all.service.security_opt, ['seccomp=mine.json', 'no-new-privileges', 'apparmor=x'])
  t.strictSame(all.added.filter((a) => ['seccomp', 'apparmor', 'no-new-privileges'].includes(a)), [])
})

t.test('a deploy memory limit stands for mem_limit', async (t) => {
  const { service, added } = harden({ deploy: { resources: { limits: { memory: '2g' } } } }, {}, o)
  t.notOk('mem_limit' in service)
  t.notOk(added.includes('mem_limit'))
  // control: a deploy section without a memory limit still gets one
  t.equal(harden({ deploy: { resources: { limits: { cpus: '1' } } } }, {}, o).service.mem_limit, '512m')
})

t.test('the user label: a uid[:gid], or "image" to keep the image user', async (t) => {
  t.equal(harden({}, { [LABEL.user]: ' 1000:1000 ' }, o).service.user, '1000:1000')
  const img = harden({}, { [LABEL.user]: 'image' }, o)
  t.notOk('user' in img.service)
  t.notOk(img.added.includes('user'))
  t.equal(harden({}, { [LABEL.user]: '' }, o).service.user, '65534:65534', 'empty label: the default')
  t.equal(harden({ user: '5' }, { [LABEL.user]: '1000' }, o).service.user, '5', "the service's own user wins")
})

t.test('the given service is not changed', async (t) => {
  const svc = { image: 'x', security_opt: ['label=disable'] }
  harden(svc, {}, o)
  t.strictSame(svc, { image: 'x', security_opt: ['label=disable'] })
})

t.test('HARDENING_DEFAULTS is frozen', async (t) => {
  t.ok(Object.isFrozen(HARDENING_DEFAULTS))
})
