// compose/ports.ts: reading Compose `ports`/`expose` entries (short and long syntax, IPv6 host IPs)
// and retargeting an entry to the sidecar's MCP ingress port.
import t from 'tap'
import { readExpose, readPort, retargetPort } from '../../compose/ports.js'

t.test('readPort: short syntax', async (t) => {
  const cases: Array<[unknown, number | undefined, string]> = [
    [8080, 8080, 'tcp'],
    ['8080', 8080, 'tcp'],
    ['3000:8080', 8080, 'tcp'],
    ['127.0.0.1:3000:8080', 8080, 'tcp'],
    ['127.0.0.1::8080', 8080, 'tcp'],
    ['[::1]:3000:8080', 8080, 'tcp'],
    ['8080/udp', 8080, 'udp'],
    ['3000:8080/UDP', 8080, 'udp'],
    [' 8080 ', 8080, 'tcp'],
    ['3000-3005:8000-8005', undefined, 'tcp'],
    ['${PORT}', undefined, 'tcp'],
    ['3000:${PORT}', undefined, 'tcp'],
    ['123456', undefined, 'tcp'],
  ]
  for (const [entry, target, protocol] of cases) {
    const p = readPort(entry)
    t.equal(p.target, target, `${JSON.stringify(entry)} target`)
    t.equal(p.protocol, protocol, `${JSON.stringify(entry)} protocol`)
    t.equal(p.raw, String(entry), `${JSON.stringify(entry)} raw`)
  }
})

t.test('readPort: an IPv6 host IP without host port is not split inside the brackets', async (t) => {
  t.equal(readPort('[::1]:8080').target, 8080)
  // "[::1]" alone: the colons are inside brackets, the whole is the (non-numeric) target
  t.equal(readPort('[::1]').target, undefined)
})

t.test('readPort: long syntax', async (t) => {
  t.strictSame(readPort({ target: 8080, published: 3000 }), { target: 8080, protocol: 'tcp', raw: '{"target":8080,"published":3000}' })
  t.equal(readPort({ target: '8080' }).target, 8080, 'numeric string target')
  t.equal(readPort({ target: '${P}' }).target, undefined)
  t.equal(readPort({ target: 8080, protocol: 'UDP' }).protocol, 'udp')
  t.equal(readPort({ published: 3000 }).target, undefined, 'no target')
})

t.test('readPort: anything else has no target', async (t) => {
  for (const e of [null, undefined, true, ['8080']]) t.equal(readPort(e).target, undefined, JSON.stringify(e) ?? 'undefined')
  t.equal(readPort(null).raw, 'null')
})

t.test('retargetPort keeps the host side and replaces the container port', async (t) => {
  t.equal(retargetPort(8080, 9000), '9000')
  t.equal(retargetPort('8080', 9000), '9000')
  t.equal(retargetPort('3000:8080', 9000), '3000:9000')
  t.equal(retargetPort('127.0.0.1:3000:8080', 9000), '127.0.0.1:3000:9000')
  t.equal(retargetPort('[::1]:3000:8080/tcp', 9000), '[::1]:3000:9000', 'the protocol is dropped: the ingress is tcp')
  t.equal(retargetPort('[::1]:8080', 9000), '[::1]:9000')
  t.strictSame(retargetPort({ target: 8080, published: 3000, host_ip: '127.0.0.1' }, 9000), { target: 9000, published: 3000, host_ip: '127.0.0.1' })
  t.equal(retargetPort(null, 9000), null, 'an unreadable entry is returned unchanged')
})

t.test('retargetPort does not change the entry it is given', async (t) => {
  const e = { target: 8080, published: 3000 }
  retargetPort(e, 9000)
  t.strictSame(e, { target: 8080, published: 3000 })
})

t.test('readExpose: numbers and numeric strings; ranges, protocols and variables are undefined', async (t) => {
  t.strictSame(readExpose([8080, '9090', ' 7070 ', '3000-3005', '8080/tcp', '${P}']), [8080, 9090, 7070, undefined, undefined, undefined])
  t.strictSame(readExpose(undefined), [])
  t.strictSame(readExpose('8080'), [], 'not a list')
})
