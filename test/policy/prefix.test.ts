// The one prefix matcher (policy/prefix.ts): first match wins in table order, family rules
// (IPv4-mapped prefixes and addresses), and a property holding it to node:net BlockList, the
// platform's matcher, over random prefixes and addresses. Addresses are strings: nothing is dialled.
import { BlockList } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import { parseIpLiteral } from '../../policy/ip.js'
import { PrefixTable, parsePrefix, prefixOf } from '../../policy/prefix.js'
import { v4Int, v4Text, v6Text, v6Words } from './address-arbitraries.js'

const SEED = 20261207
const RUNS = 5000

function addr(text: string): NonNullable<ReturnType<typeof parseIpLiteral>> {
  const a = parseIpLiteral(text)
  if (!a) throw new Error(`test table error: ${text}`)
  return a
}

t.test('the first matching entry wins, in table order', async (t) => {
  const wide: [string, string] = ['10.0.0.0/8', 'wide']
  const narrow: [string, string] = ['10.1.0.0/16', 'narrow']
  t.equal(new PrefixTable([narrow, wide]).lookup(addr('10.1.2.3')), 'narrow', 'narrow first: narrow')
  t.equal(new PrefixTable([wide, narrow]).lookup(addr('10.1.2.3')), 'wide', 'wide first: wide (the order is the data)')
  t.equal(new PrefixTable([narrow, wide]).lookup(addr('10.2.0.0')), 'wide', 'outside the narrow one: wide')
  t.equal(new PrefixTable([narrow, wide]).lookup(addr('11.0.0.0')), undefined, 'outside both: undefined')
  const v6 = new PrefixTable([['2001::/32', 'teredo'], ['2001::/23', 'ietf']])
  t.equal(v6.lookup(addr('2001::1')), 'teredo', 'IPv6: narrow first')
  t.equal(v6.lookup(addr('2001:1::1')), 'ietf', 'IPv6: the wider row')
  t.equal(v6.lookup(addr('2001:200::')), undefined, 'IPv6: past /23')
  t.equal(new PrefixTable([]).lookup(addr('1.2.3.4')), undefined, 'an empty table matches nothing')
})

t.test('families: IPv4 prefixes, mapped-form IPv6 prefixes, and other IPv6 prefixes', async (t) => {
  const table = new PrefixTable([['::/0', 'all-v6'], ['::ffff:10.0.0.0/104', 'mapped-10'], ['192.168.0.0/16', 'v4']])
  t.equal(table.lookup(addr('10.1.2.3')), 'mapped-10', 'a mapped-form prefix contains the IPv4 address it maps')
  t.equal(table.lookup(addr('192.168.1.1')), 'v4', 'an IPv4 prefix contains IPv4')
  t.equal(table.lookup(addr('8.8.8.8')), undefined, '::/0 does not contain IPv4')
  t.equal(table.lookup(addr('2001:db8::1')), 'all-v6', '::/0 contains IPv6')
  t.equal(table.lookupV6([0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0101]), 'v4', 'mapped words are looked up as IPv4 (unmap: true)')
  const raw = new PrefixTable([['::/0', 'all-v6'], ['192.168.0.0/16', 'v4']], { unmap: false })
  t.equal(raw.lookupV6([0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0101]), 'all-v6', 'unmap: false: mapped words are IPv6 words')
  t.equal(new PrefixTable([['192.168.0.0/16', 'v4']], { unmap: false }).lookupV6([0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0101]), undefined, 'unmap: false: an IPv4 prefix never contains IPv6 words')
  t.equal(table.lookup({ ip: 'not-an-ip', family: 6 }), undefined, 'malformed IPv6 text matches nothing')
})

t.test('prefixOf clears host bits; malformed table text throws', async (t) => {
  t.strictSame(prefixOf('10.1.2.3', 8), { written: 4, bits: 104, words: [0, 0, 0, 0, 0, 0xffff, 0x0a00, 0] }, 'IPv4 as mapped 128 bits')
  t.strictSame(parsePrefix('fe80::1/10').words, [0xfe80, 0, 0, 0, 0, 0, 0, 0], 'IPv6 network form')
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/-1', '10.0.0.0/1.5', '1.2.3/8']) {
    t.throws(() => parsePrefix(bad), `${bad} throws`)
  }
})

// Random prefixes in the family they are written in, with the addresses to try against each.
const word = fc.integer({ min: 0, max: 0xffff })
const v4Case = fc.tuple(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).chain(([n, bits]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  const cidr = `${v4Text((n & mask) >>> 0)}/${bits}`
  return fc.tuple(fc.constant(cidr), fc.array(v4Int([cidr]).map(v4Text), { minLength: 1, maxLength: 6 }))
})
const notMapped = (w: readonly number[]): boolean => !(w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff)
const v6Case = fc.tuple(fc.array(word, { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 })).filter(([w]) => notMapped(w)).chain(([w, bits]) => {
  const cidr = `${v6Text(w)}/${bits}`
  const net = parsePrefix(cidr).words
  const text = `${v6Text(net)}/${bits}`
  return fc.tuple(fc.constant(text), fc.array(v6Words([text]).filter(notMapped).map(v6Text), { minLength: 1, maxLength: 6 }))
})

t.test('property: the matcher agrees with node:net BlockList within a family', async (t) => {
  let inside = 0
  let outside = 0
  const details = fc.check(
    fc.property(fc.oneof(v4Case.map((c) => [4, c] as const), v6Case.map((c) => [6, c] as const)), ([family, [cidr, addresses]]) => {
      const type = family === 4 ? 'ipv4' : 'ipv6'
      const slash = cidr.indexOf('/')
      const list = new BlockList()
      list.addSubnet(cidr.slice(0, slash), Number(cidr.slice(slash + 1)), type)
      const table = new PrefixTable([[cidr, true]])
      return addresses.every((a) => {
        const platform = list.check(a, type)
        if (platform) inside++
        else outside++
        return (table.lookup(addr(a)) === true) === platform
      })
    }),
    { seed: SEED, numRuns: RUNS },
  )
  t.notOk(details.failed, details.failed ? fc.defaultReportMessage(details) ?? 'failed' : 'no counterexample')
  t.ok(inside > RUNS / 2 && outside > RUNS / 2, `both outcomes exercised: ${inside} inside, ${outside} outside`)
})

t.test('control: where the family rules deliberately differ from BlockList', async (t) => {
  const all6 = new BlockList()
  all6.addSubnet('::', 0, 'ipv6')
  t.equal(all6.check('10.1.2.3', 'ipv4'), true, 'BlockList: ::/0 contains an IPv4 address')
  t.equal(new PrefixTable([['::/0', true]]).lookup(addr('10.1.2.3')), undefined, 'ours: ::/0 is every IPv6 address, no IPv4 one')
  const ten = new BlockList()
  ten.addSubnet('10.0.0.0', 8, 'ipv4')
  t.equal(ten.check('::ffff:a01:203', 'ipv6'), true, 'BlockList: an IPv4 rule contains the mapped address')
  t.equal(new PrefixTable([['10.0.0.0/8', true]]).lookupV6([0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]), true, 'ours too (unmap: true)')
})
