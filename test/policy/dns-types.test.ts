/** Record types as a configuration names them (policy/dns-types.ts): mnemonics, TYPE<n> (RFC 3597 §5), and the types never forwarded. */
import t from 'tap'
import { QType, packetTypeName, parseDnsTypeName, typeName } from '../../policy/dns-types.js'

t.test('mnemonics in any letter case and TYPE<n> parse to their QTYPE', async (t) => {
  t.same(parseDnsTypeName('TXT'), { qtype: QType.TXT })
  t.same(parseDnsTypeName(' mx '), { qtype: QType.MX })
  t.same(parseDnsTypeName('srv'), { qtype: QType.SRV })
  t.same(parseDnsTypeName('TYPE99'), { qtype: 99 })
  t.same(parseDnsTypeName('type65535'), { qtype: 65535 })
  t.same(parseDnsTypeName('CAA'), { qtype: 257 }, "dns-packet's list")
})

t.test('unknown names and out-of-range numbers are refused with a sentence naming them', async (t) => {
  for (const bad of ['BOGUS', 'TYPE0', 'TYPE65536', 'TYPE', '', 'A A']) {
    const r = parseDnsTypeName(bad)
    t.ok('error' in r && r.error.includes('is not a DNS record type'), `${JSON.stringify(bad)}: ${JSON.stringify(r)}`)
  }
})

t.test('types answered locally or without records can never be configured for forwarding, whatever the spelling', async (t) => {
  for (const [name, why] of [['ANY', /RFC 8482/], ['AXFR', /zone transfers/], ['ixfr', /zone transfers/], ['MAILA', /obsolete/], ['MAILB', /obsolete/], ['OPT', /pseudo-record/], ['HTTPS', /address hints/], ['svcb', /address hints/], ['TYPE255', /RFC 8482/], ['TYPE65', /address hints/]] as const) {
    const r = parseDnsTypeName(name)
    t.ok('error' in r, `${name} refused`)
    t.match('error' in r ? r.error : '', why)
  }
  t.same(parseDnsTypeName('A'), { qtype: 1 }, 'control: A is forwardable')
})

t.test('presentation names: known types by mnemonic, others as TYPE<n>; dns-packet names unknown ones UNKNOWN_<n>', async (t) => {
  t.equal(typeName(28), 'AAAA')
  t.equal(typeName(65), 'HTTPS')
  t.equal(typeName(4242), 'TYPE4242')
  t.equal(packetTypeName(16), 'TXT')
  t.equal(packetTypeName(4242), 'UNKNOWN_4242')
})
