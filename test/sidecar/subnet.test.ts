/**
 * sidecar/subnet.ts: the provider networks of container sidecars. Properties over random keys and
 * taken sets (fast-check), and the refusals with their messages.
 */
import t from 'tap'
import fc from 'fast-check'
import { formatIpv4, internalAddresses, overlaps, ownSubnet, parseIpv4Cidr, pickInternalSubnet, subnetAround } from '../../sidecar/subnet.js'

t.test('parseIpv4Cidr: the network form only, a clear error otherwise', async (t) => {
  t.same(parseIpv4Cidr('10.253.4.16/28'), { base: (10 << 24 >>> 0) + (253 << 16) + (4 << 8) + 16, prefix: 28 })
  t.throws(() => parseIpv4Cidr('10.0.0.5/24'), /host bits set \(the network is 10\.0\.0\.0\/24\)/)
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '256.0.0.0/8', '10.0.0/8', 'x/8', '10.0.0.0/-1']) t.throws(() => parseIpv4Cidr(bad), /is not an IPv4 CIDR/, bad)
})

t.test('overlaps is symmetric and true exactly when the networks share an address', async (t) => {
  const net = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([ip, p]) => {
    const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0
    return { base: (ip & mask) >>> 0, prefix: p }
  })
  let runs = 0
  fc.assert(fc.property(net, net, (a, b) => {
    runs++
    const last = (n: { base: number; prefix: number }) => n.base + 2 ** (32 - n.prefix) - 1
    const share = a.base <= last(b) && b.base <= last(a)
    return overlaps(a, b) === overlaps(b, a) && overlaps(a, b) === share
  }), { numRuns: 2000 })
  t.equal(runs, 2000, 'checked on 2000 random pairs')
})

t.test('pickInternalSubnet: a /28 of the pool, stable per key, never overlapping a taken network', async (t) => {
  const pool = parseIpv4Cidr('10.253.0.0/16')
  let runs = 0
  fc.assert(fc.property(fc.string(), fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 64 }), (key, slots) => {
    runs++
    const taken = slots.map((s) => ({ base: pool.base + s * 16, prefix: 28 }))
    const got = pickInternalSubnet(key, taken)
    const net = parseIpv4Cidr(got.subnet)
    return net.prefix === 28 && overlaps(net, pool) && !taken.some((x) => overlaps(x, net)) && pickInternalSubnet(key, taken).subnet === got.subnet
  }), { numRuns: 500 })
  t.equal(runs, 500, 'checked on 500 random keys and taken sets')
  t.throws(() => pickInternalSubnet('k', [], '10.0.0.0/29'), /must be a \/8 to \/28/)
  t.throws(() => pickInternalSubnet('k', [parseIpv4Cidr('10.0.0.0/16')], '10.0.0.0/16'), /no free \/28 left/)
})

t.test('internalAddresses: network, gateway .1, sidecar .2, the upper half for Docker', async (t) => {
  t.same(internalAddresses(parseIpv4Cidr('10.1.0.0/16')), { subnet: '10.1.0.0/16', gateway: '10.1.0.1', sidecar: '10.1.0.2', ipRange: '10.1.128.0/17' })
  t.equal(formatIpv4(0xfffffffe), '255.255.255.254')
})

t.test('ownSubnet refuses special-purpose space (RFC 6890) and sizes outside /16../28; control: a private /24 is taken', async (t) => {
  for (const cidr of ['127.10.0.0/24', '0.0.1.0/24', '169.254.1.0/24', '224.1.0.0/24', '240.0.0.0/24']) t.throws(() => ownSubnet(cidr), /this network, loopback, link-local or multicast/, cidr)
  t.throws(() => ownSubnet('10.0.0.0/15'), /a \/16 to \/28/)
  t.throws(() => ownSubnet('10.0.0.0/29'), /a \/16 to \/28/)
  t.equal(ownSubnet('192.168.7.0/24').sidecar, '192.168.7.2')
})

t.test('subnetAround: the chosen address in the lower half of its /28, not .0 or .1', async (t) => {
  for (let off = 0; off < 16; off++) {
    const addr = `11.254.31.${16 + off}`
    if (off >= 2 && off <= 7) t.equal(subnetAround(addr).sidecar, addr, `offset ${off} accepted`)
    else t.throws(() => subnetAround(addr), /3rd to 8th address/, `offset ${off} refused`)
  }
})
