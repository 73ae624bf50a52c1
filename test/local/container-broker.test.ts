/**
 * The container broker's pure parts and its wire format, and the sidecar's side of it
 * (ContainerChild) against a broker of our own on a real Unix socket: started, stdout split into
 * messages, stdin frames, signals, the exit frame, an unreachable broker, a hostile frame.
 * (The broker with a real Docker engine is test/e2e/up-container.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { containerCreateOptions, memoryBytes, type ProviderContainerSpec } from '../../local/container-broker.js'
import { FRAME, FrameDecoder, FrameTooLargeError, MAX_FRAME_BYTES, encodeFrame } from '../../proxy/stdio/broker-protocol.js'
import { ContainerChild } from '../../proxy/stdio/container-child.js'
import { internalAddresses, ownSubnet, parseIpv4Cidr, pickInternalSubnet, subnetAround } from '../../sidecar/subnet.js'

const dir = mkdtempSync(join(tmpdir(), 'hangar-broker-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('memory sizes in Docker units', async (t) => {
  t.equal(memoryBytes(undefined), 0)
  t.equal(memoryBytes(1000), 1000)
  t.equal(memoryBytes('256m'), 256 * 1024 ** 2)
  t.equal(memoryBytes('1g'), 1024 ** 3)
  t.equal(memoryBytes('1.5G'), 1.5 * 1024 ** 3)
  t.equal(memoryBytes('512k'), 512 * 1024)
  t.throws(() => memoryBytes('lots'), /not a memory size/)
})

t.test('the container spec is hardened whatever the provider asks', async (t) => {
  const spec: ProviderContainerSpec = {
    namePrefix: 'p', image: 'img:1', cmd: ['node', 'x.js'], env: { A: '1' }, binds: ['/h:/c:ro'], memoryBytes: 1024, nanoCpus: 5e8,
    readOnly: true, user: '65534:65534', network: 'net-int', dns: '10.253.0.2', seccomp: '{"defaultAction":"SCMP_ACT_ERRNO"}', labels: { l: 'v' }, stopTimeoutS: 5,
  }
  const o = containerCreateOptions(spec, 'p-1')
  t.match(o, { name: 'p-1', Image: 'img:1', Cmd: ['node', 'x.js'], Env: ['A=1'], User: '65534:65534', Labels: { l: 'v' }, OpenStdin: true, StdinOnce: true, Tty: false })
  const hc = o.HostConfig!
  t.equal(hc.NetworkMode, 'net-int', 'its internal network only')
  t.same(hc.Dns, ['10.253.0.2'], 'dns: the sidecar')
  t.same(hc.CapDrop, ['ALL'])
  t.equal(hc.ReadonlyRootfs, true)
  t.same(hc.SecurityOpt, ['no-new-privileges:true', 'seccomp={"defaultAction":"SCMP_ACT_ERRNO"}'], 'the profile content, as the API wants it')
  t.equal(hc.PidsLimit, 256)
  t.equal(hc.Memory, 1024)
  t.equal(hc.NanoCpus, 5e8)
  t.same(hc.Binds, ['/h:/c:ro'])
  const noLimits = containerCreateOptions({ ...spec, memoryBytes: 0, nanoCpus: 0, user: '', cmd: undefined }, 'p-2')
  t.notOk('Memory' in noLimits.HostConfig!, 'no memory limit when none given')
  t.notOk('User' in noLimits, "the image's user")
  t.notOk('Cmd' in noLimits, "the image's command")
})

t.test('frames: split anywhere, joined, bounded', async (t) => {
  const d = new FrameDecoder()
  const bytes = Buffer.concat([encodeFrame(FRAME.stdout, 'hello'), encodeFrame(FRAME.exit, '{"code":0}'), encodeFrame(FRAME.stdinEnd)])
  const got = []
  for (const b of bytes) got.push(...d.push(Buffer.from([b])))
  t.same(got.map((f) => [f.type, f.payload.toString()]), [[FRAME.stdout, 'hello'], [FRAME.exit, '{"code":0}'], [FRAME.stdinEnd, '']])
  t.equal(d.pending, 0)
  const head = Buffer.alloc(5)
  head.writeUInt8(FRAME.stdout, 0)
  head.writeUInt32BE(MAX_FRAME_BYTES + 1, 1)
  t.throws(() => new FrameDecoder().push(head), FrameTooLargeError)
})

/** A broker of our own: runs `script` for each connection. */
async function fakeBroker(script: (sock: Socket, frames: Array<{ type: number; payload: string }>) => void): Promise<{ path: string; close: () => Promise<void> }> {
  const path = join(dir, `b${Math.random().toString(16).slice(2)}.sock`)
  const server = createServer((sock) => {
    const d = new FrameDecoder()
    const frames: Array<{ type: number; payload: string }> = []
    sock.on('data', (c: Buffer) => {
      for (const f of d.push(c)) frames.push({ type: f.type, payload: f.payload.toString() })
      sock.emit('frames')
    })
    sock.on('error', () => undefined)
    script(sock, frames)
  })
  await new Promise<void>((r) => server.listen(path, r))
  return { path, close: () => new Promise((r) => server.close(() => r())) }
}

t.test('ContainerChild: messages, stdin, signal, exit', async (t) => {
  let seen: Array<{ type: number; payload: string }> = []
  const broker = await fakeBroker((sock, frames) => {
    seen = frames
    sock.write(encodeFrame(FRAME.started, JSON.stringify({ id: 'abc123' })))
    sock.write(encodeFrame(FRAME.stderr, 'booting\n'))
    // a message split across two frames, then noise, then a second message
    sock.write(encodeFrame(FRAME.stdout, '{"jsonrpc":"2.0","id":1,'))
    sock.write(encodeFrame(FRAME.stdout, '"result":{}}\nnot json\n{"jsonrpc":"2.0","method":"notifications/x"}\n'))
    sock.on('frames', () => {
      if (frames.some((f) => f.type === FRAME.signal)) sock.end(encodeFrame(FRAME.exit, JSON.stringify({ code: 143, signal: 'SIGTERM' })))
    })
  })
  t.teardown(broker.close)
  const child = new ContainerChild({ name: 'p', socketPath: broker.path })
  const messages: unknown[] = []
  child.on('message', (m) => messages.push(m))
  await new Promise((r) => setTimeout(r, 100))
  t.equal(child.containerId, 'abc123')
  t.same(messages, [{ jsonrpc: '2.0', id: 1, result: {} }, { jsonrpc: '2.0', method: 'notifications/x' }], 'stdout split into messages, noise skipped')
  t.ok(child.send({ jsonrpc: '2.0', id: 2, method: 'ping' }))
  child.closeStdin()
  t.notOk(child.send({ jsonrpc: '2.0', id: 3, method: 'ping' }), 'nothing is sent after stdin closed')
  t.ok(child.kill('SIGTERM'))
  const exit = await child.exited
  t.match(exit, { code: 143, signal: 'SIGTERM' })
  t.match(exit.description, /killed by SIGTERM: booting/)
  t.same(child.stderrTail, ['booting'])
  t.same(seen.map((f) => f.type), [FRAME.stdin, FRAME.stdinEnd, FRAME.signal])
  t.equal(seen[0]!.payload, '{"jsonrpc":"2.0","id":2,"method":"ping"}\n')
  t.equal(seen[2]!.payload, 'SIGTERM')
  t.equal(await child.waitExit(10), true)
  t.notOk(child.kill('SIGKILL'), 'nothing to kill after the exit')
})

t.test('ContainerChild: an unreachable broker is a failed start, a broker error too', async (t) => {
  const child = new ContainerChild({ name: 'p', socketPath: join(dir, 'nobody-here.sock') })
  const exit = await child.exited
  t.match(exit.description, /^failed to start: container broker unreachable/)
  const broker = await fakeBroker((sock) => sock.end(encodeFrame(FRAME.exit, JSON.stringify({ code: null, error: 'container img: no such image' }))))
  t.teardown(broker.close)
  const c2 = new ContainerChild({ name: 'p', socketPath: broker.path })
  t.match((await c2.exited).description, /failed to start: container img: no such image/)
})

t.test('ContainerChild: a hostile frame ends it', async (t) => {
  const broker = await fakeBroker((sock) => {
    const head = Buffer.alloc(5)
    head.writeUInt8(FRAME.stdout, 0)
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 1)
    sock.write(head)
  })
  t.teardown(broker.close)
  const child = new ContainerChild({ name: 'p', socketPath: broker.path })
  const exit = await child.exited
  t.match(exit.error, /exceeds/)
})

t.test('internal subnets', async (t) => {
  t.same(internalAddresses(parseIpv4Cidr('10.253.4.16/28')), { subnet: '10.253.4.16/28', gateway: '10.253.4.17', sidecar: '10.253.4.18', ipRange: '10.253.4.24/29' })
  t.same(subnetAround('11.254.31.2'), { subnet: '11.254.31.0/28', gateway: '11.254.31.1', sidecar: '11.254.31.2', ipRange: '11.254.31.8/29' })
  t.equal(subnetAround('11.254.31.21').sidecar, '11.254.31.21', 'any of the lower half but the first two')
  t.throws(() => subnetAround('11.254.31.1'), /3rd to 8th/)
  t.throws(() => subnetAround('11.254.31.9'), /3rd to 8th/)
  t.throws(() => subnetAround('nope'), /not an IPv4 address/)
  t.throws(() => parseIpv4Cidr('10.0.0.5/24'), /host bits set/)
  t.throws(() => parseIpv4Cidr('10.0.0.0/33'), /not an IPv4 CIDR/)
  t.throws(() => ownSubnet('10.0.0.0/8'), /a \/16 to \/28/)
  const a = pickInternalSubnet('p/a', [])
  t.match(a.subnet, /^10\.253\.\d+\.\d+\/28$/)
  t.same(pickInternalSubnet('p/a', []), a, 'stable')
  const b = pickInternalSubnet('p/a', [parseIpv4Cidr(a.subnet)])
  t.not(b.subnet, a.subnet, 'a taken /28 is skipped')
  t.throws(() => pickInternalSubnet('x', [parseIpv4Cidr('10.0.0.0/8')], '10.0.0.0/28'), /no free \/28/)
})
