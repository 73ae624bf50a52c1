/** The drop sets every isolation ruleset shares (sidecar/drop-sets.ts): valid nftables, record before overflow, refuse or drop. */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { BYPASS_SET_SIZE, BYPASS_SET_TIMEOUT_S, dropRules, dropSets } from '../../sidecar/drop-sets.js'

const table = (rules: string[]) => ['table inet hgt_dropsets {', ...dropSets(), '  chain out {', '    type filter hook output priority 0; policy accept;', ...rules, '  }', '}', ''].join('\n')

t.test('two sets sized and timed out as documented, and the two counters', async (t) => {
  const text = dropSets().join('\n')
  t.match(text, /set bypass4 \{\n\s+type ipv4_addr \. inet_proto \. inet_service/)
  t.match(text, /set bypass6 \{\n\s+type ipv6_addr \. inet_proto \. inet_service/)
  t.equal(text.split(`size ${BYPASS_SET_SIZE}`).length - 1, 2)
  t.equal(text.split(`timeout ${BYPASS_SET_TIMEOUT_S}s`).length - 1, 2)
  t.match(text, /counter dropped \{ \}\n\s+counter overflow \{ \}/)
})

t.test('the namespace side refuses (tcp reset, icmp admin-prohibited); the host side drops; a prefix leads every rule', async (t) => {
  const refuse = dropRules('', true)
  t.ok(refuse.filter((l) => l.includes('meta l4proto tcp')).every((l) => l.endsWith('reject with tcp reset')))
  t.ok(refuse.filter((l) => !l.includes('meta l4proto tcp')).every((l) => l.endsWith('reject with icmpx admin-prohibited')))
  const host = dropRules('iifname "hgh1" ', false)
  t.ok(host.every((l) => l.trim().startsWith('iifname "hgh1" ') && l.endsWith(' drop')))
  const firstOverflow = refuse.findIndex((l) => l.includes('"overflow"'))
  t.ok(firstOverflow > refuse.findLastIndex((l) => l.includes('update @bypass')), 'recording comes before the overflow count (a full set falls through to it)')
})

t.test('nft -c accepts both variants, and refuses a damaged one (control)', async (t) => {
  for (const rules of [dropRules('', true), dropRules('iifname "lo" ', false)]) {
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: table(rules), encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
  }
  const bad = spawnSync('nft', ['-c', '-f', '-'], { input: table(dropRules('', true)).replace('update @bypass4', 'update @bypass9'), encoding: 'utf8' })
  t.not(bad.status, 0, 'a rule naming a set that does not exist')
})
