import t from 'tap'
import { createSocket } from 'node:dgram'
import { connect, createServer } from 'node:net'
import { once } from 'node:events'
import { BypassTrap, type TrapReport } from '../../egress/bypass-trap.js'

/** Connects, writes, and gives back how the connection ended: the bytes read and the error code, if any. */
async function tcpAttempt(host: string, port: number): Promise<{ connected: boolean; data: string; code?: string }> {
  const s = connect({ host, port })
  let connected = false
  let data = ''
  s.on('connect', () => {
    connected = true
    s.write('GET / HTTP/1.0\r\n\r\n')
  })
  s.on('data', (d) => (data += d.toString()))
  const [err] = await Promise.race([once(s, 'error').catch((e: unknown) => [e]), once(s, 'close').then(() => [undefined])]) as [NodeJS.ErrnoException | undefined]
  s.destroy()
  return { connected, data, ...(err?.code && { code: err.code }) }
}

async function udpSend(type: 'udp4' | 'udp6', host: string, port: number): Promise<void> {
  const s = createSocket(type)
  await new Promise<void>((r, j) => s.send('q', port, host, (e) => (e ? j(e) : r())))
  s.close()
}

const waitFor = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
}

t.test('tcp over IPv4 and IPv6 is reset at once and reported with its family and source port; control: a real listener answers', async (t) => {
  const reports: TrapReport[] = []
  const trap = new BypassTrap({ report: (r) => reports.push(r), windowMs: 50 })
  const port = await trap.listen(0)
  t.teardown(() => trap.close())
  const v4 = await tcpAttempt('127.0.0.1', port)
  t.equal(v4.data, '', 'nothing comes back from the trap')
  t.equal(v4.code, 'ECONNRESET', 'the connection is reset')
  const v6 = await tcpAttempt('::1', port)
  t.equal(v6.code, 'ECONNRESET', 'IPv6 too')
  await waitFor(() => reports.length >= 2)
  t.match(reports, [{ protocol: 'tcp', family: 'ipv4', attempts: 1, sourcePort: Number }, { protocol: 'tcp', family: 'ipv6', attempts: 1 }])
  t.ok(reports[0]!.sourcePort > 0)

  // Control: the same client against a real listener reads its answer, so the reset above is the trap's doing.
  const real = createServer((s) => s.end('HTTP/1.0 200 OK\r\n\r\nhello'))
  await new Promise<void>((r) => real.listen(0, '127.0.0.1', r))
  t.teardown(() => real.close())
  const ok = await tcpAttempt('127.0.0.1', (real.address() as { port: number }).port)
  t.match(ok, { connected: true, data: /hello/ })
  t.notOk('code' in ok)
})

t.test('udp datagrams over IPv4 and IPv6 are discarded and reported', async (t) => {
  const reports: TrapReport[] = []
  const trap = new BypassTrap({ report: (r) => reports.push(r), windowMs: 50 })
  const port = await trap.listen(0)
  t.teardown(() => trap.close())
  await udpSend('udp4', '127.0.0.1', port)
  await waitFor(() => reports.length >= 1)
  await udpSend('udp6', '::1', port)
  await waitFor(() => reports.length >= 2)
  t.match(reports, [{ protocol: 'udp', family: 'ipv4', attempts: 1 }, { protocol: 'udp', family: 'ipv6', attempts: 1 }])
})

t.test('a flood is coalesced: the first arrival at once, then one report per window with the count; close reports what is pending', async (t) => {
  const reports: TrapReport[] = []
  const trap = new BypassTrap({ report: (r) => reports.push(r), windowMs: 300 })
  const port = await trap.listen(0)
  for (let i = 0; i < 40; i++) await udpSend('udp4', '127.0.0.1', port)
  await waitFor(() => reports.length >= 1)
  t.equal(reports[0]!.attempts, 1, 'the first one is reported at once')
  await waitFor(() => reports.reduce((n, r) => n + r.attempts, 0) >= 40, 2000)
  t.equal(reports.reduce((n, r) => n + r.attempts, 0), 40, 'every datagram is counted')
  t.ok(reports.length <= 3, `40 datagrams in well under a window gave ${reports.length} reports`)
  for (let i = 0; i < 5; i++) await udpSend('udp4', '127.0.0.1', port)
  await new Promise((r) => setTimeout(r, 50))
  const before = reports.reduce((n, r) => n + r.attempts, 0)
  await trap.close()
  t.equal(reports.reduce((n, r) => n + r.attempts, 0), 45, `close reported what was pending (had ${before})`)
  t.match(reports.at(-1), { protocol: 'udp', family: 'ipv4' })
})

t.test('a port already taken is a listen error naming it; a second trap on a free port works', async (t) => {
  const first = new BypassTrap({ report: () => {} })
  const port = await first.listen(0)
  t.teardown(() => first.close())
  const second = new BypassTrap({ report: () => {} })
  await t.rejects(second.listen(port), { code: 'HANGAR_LISTEN_FAILED' })
  await second.close()
  const third = new BypassTrap({ report: () => {} })
  t.ok((await third.listen(0)) > 0)
  await third.close()
})
