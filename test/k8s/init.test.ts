/**
 * `mcp-hangar k8s init` for real (root): a network namespace stands in for the pod's. The real
 * `runK8sInit` loads the ruleset inside it; then clients run as the sidecar's uid (65532) and as a
 * provider's uid (1000) with `setpriv`, against listeners in the same namespace: on 127.0.0.1 (the
 * sidecar's DNS, transparent, forward and admin ports, and a control port) and on a test address
 * of an in-namespace veth (10.251.x.1, fd51:x::1). Unassigned addresses of that veth's subnet
 * stand for "anywhere": the veth leads nowhere, so nothing leaves the namespace. Also here: the
 * options from a config and from flags, `--print`, and the exit codes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseConfig } from '../../config/load.js'
import { parseBypassSet } from '../../local/netns.js'
import { podRuleset } from '../../k8s/init-rules.js'
import { parsePortFlag, podRulesFromConfig, resolveK8sInitOptions, runK8sInit } from '../../k8s/init.js'
import { netnsSkip } from '../helpers/netns.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const PORTS = { dns: 15053, http: 15080, tls: 15443, forward: 5432, admin: 9901, other: 9911, target: 7000 }

/** Runs `fn` and gives back what it wrote to out and err with its exit code. */
async function capture(fn: (out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough()
  const err = new PassThrough()
  let o = ''
  let e = ''
  out.on('data', (d: Buffer) => (o += d.toString()))
  err.on('data', (d: Buffer) => (e += d.toString()))
  const code = await fn(out, err)
  return { code, out: o, err: e }
}

t.test('options from a provider config: the sidecar listener ports and the exact-host tcp rules', async (t) => {
  const cfg = (sidecar: Record<string, unknown>, egress: unknown[] = []) => parseConfig(JSON.stringify({
    providers: { db: { mode: 'remote', endpoint: 'http://127.0.0.1:9000/mcp', sidecar, capabilities: { network: { egress } } } },
  }), 'hangar.yaml').config
  const good = { dns: '127.0.0.1:15053', transparent_http: '0.0.0.0:15080', transparent_tls: '127.0.0.1:15443', admin: '127.0.0.1:9901', proxy: '0.0.0.0:3128' }
  const egress = [
    { host: 'db.internal.example', port: 5432, protocol: 'tcp' },
    { host: 'cache.internal.example', port: 6379, protocol: 'tcp' },
    { host: '*.example.com', port: 443 },
    { cidr: '10.0.0.0/8', port: 22, protocol: 'tcp' },
    { host: '10.1.2.3', port: 3306, protocol: 'tcp' },
  ]
  t.same(podRulesFromConfig(cfg(good, egress), 'db', 'hangar.yaml'), {
    sidecarUid: 65532, dnsPort: 15053, httpPort: 15080, tlsPort: 15443, forwardPorts: [5432, 6379], adminPort: 9901, protectedPorts: [9901], mcpPort: null, ingressPort: null, trapPort: null,
  }, 'forwards are the exact-host tcp rules only (not a wildcard, not a cidr)')
  t.same(podRulesFromConfig(cfg({ ...good, transparent_http: null }), 'db', 'hangar.yaml').httpPort, null, 'a disabled transparent listener is not redirected')
  t.throws(() => podRulesFromConfig(cfg({ ...good, dns: '0.0.0.0:53' }), 'db', 'hangar.yaml'), /providers\.db\.sidecar\.dns: must be bound to 127\.0\.0\.1/, 'a 0.0.0.0 DNS listener is refused')
  t.throws(() => podRulesFromConfig(cfg({ ...good, transparent_tls: '10.1.2.3:443' }), 'db', 'hangar.yaml'), /providers\.db\.sidecar\.transparent_tls: must be bound to 127\.0\.0\.1 or 0\.0\.0\.0/)
  t.throws(() => podRulesFromConfig(cfg({ ...good, tcp_forward_host: '10.1.2.3' }, egress), 'db', 'hangar.yaml'), /providers\.db\.sidecar\.tcp_forward_host/)
  t.same(podRulesFromConfig(cfg({ ...good, tcp_forward_host: '10.1.2.3' }), 'db', 'hangar.yaml').forwardPorts, [], 'the forward host does not matter without forwards')
  t.throws(() => podRulesFromConfig(cfg(good), 'nope', 'hangar.yaml'), /providers\.nope: no such provider \(have: db\)/)
  t.throws(() => podRulesFromConfig(cfg({ ...good, dns: '127.0.0.1:9901' }), 'db', 'hangar.yaml'), /dnsPort: port 9901 is a protected/, 'a DNS port on the admin port')
  const pod = (endpoint: string, sidecar: Record<string, unknown>) => parseConfig(JSON.stringify({
    providers: { db: { mode: 'remote', endpoint, listen: '0.0.0.0:15006', sidecar: { ...good, ...sidecar } } },
  }), 'hangar.yaml').config
  t.match(podRulesFromConfig(pod('http://127.0.0.1:9000/mcp', { bypass_trap: '127.0.0.1:15999' }), 'db', 'hangar.yaml'), { mcpPort: 9000, ingressPort: 15006, trapPort: 15999 }, 'a server on loopback is captured on its port; the trap port from the sidecar block')
  t.match(podRulesFromConfig(pod('http://localhost/mcp', {}), 'db', 'hangar.yaml'), { mcpPort: 80, ingressPort: 15006, trapPort: null }, 'the URL default port')
  t.match(podRulesFromConfig(pod('http://10.9.8.7:9000/mcp', {}), 'db', 'hangar.yaml'), { mcpPort: null, ingressPort: null }, 'a server elsewhere is not captured in this pod')
  t.throws(() => podRulesFromConfig(pod('http://127.0.0.1:9000/mcp', { bypass_trap: '0.0.0.0:15999' }), 'db', 'hangar.yaml'), /providers\.db\.sidecar\.bypass_trap: must be bound to 127\.0\.0\.1/)
})

t.test('options from flags, the config file, and the exclusive combinations', async (t) => {
  t.same(resolveK8sInitOptions({}), { sidecarUid: 65532, dnsPort: 53, httpPort: 80, tlsPort: 443, forwardPorts: [], adminPort: 9901, protectedPorts: [9901], mcpPort: null, ingressPort: null, trapPort: null }, 'the container sidecar defaults')
  t.same(resolveK8sInitOptions({ dnsPort: 15053, httpPort: null, forwardPorts: [6379, 5432], adminPort: 9000, sidecarUid: 1337 }), { sidecarUid: 1337, dnsPort: 15053, httpPort: null, tlsPort: 443, forwardPorts: [5432, 6379], adminPort: 9000, protectedPorts: [9000], mcpPort: null, ingressPort: null, trapPort: null })
  t.throws(() => resolveK8sInitOptions({ config: 'x.yaml' }), /-c\/--config and --provider go together/)
  t.throws(() => resolveK8sInitOptions({ provider: 'db' }), /-c\/--config and --provider go together/)
  t.throws(() => resolveK8sInitOptions({ config: 'x.yaml', provider: 'db', dnsPort: 53 }), /port flags \(dnsPort\) and -c\/--provider are exclusive/)
  const dir = t.testdir({})
  const file = join(dir, 'hangar.yaml')
  writeFileSync(file, 'providers:\n  db:\n    mode: remote\n    endpoint: http://127.0.0.1:9000/mcp\n    sidecar:\n      dns: 127.0.0.1:${DNS_PORT}\n      admin: 127.0.0.1:9901\n    capabilities:\n      network:\n        egress:\n          - { host: db.internal.example, port: 5432, protocol: tcp }\n')
  t.same(resolveK8sInitOptions({ config: file, provider: 'db', env: { DNS_PORT: '15053' }, sidecarUid: 4242 }), { sidecarUid: 4242, dnsPort: 15053, httpPort: 80, tlsPort: 443, forwardPorts: [5432], adminPort: 9901, protectedPorts: [9901], mcpPort: null, ingressPort: null, trapPort: null }, '${VAR} filled, uid override kept')
  t.equal(parsePortFlag('--dns-port', '15053'), 15053)
  t.equal(parsePortFlag('--http-port', 'off', true), null)
  for (const bad of ['0', '65536', '12a', '', '-1', '1e3']) t.throws(() => parsePortFlag('--dns-port', bad), /--dns-port: expected a port 1–65535, got/, `"${bad}"`)
  t.throws(() => parsePortFlag('--admin-port', 'off'), /--admin-port: expected a port/, 'off only where allowed')
})

t.test('--print writes the ruleset and loads nothing; a bad option exits 2 with the reason', async (t) => {
  const printed = await capture((out, err) => runK8sInit({ dnsPort: 15053, forwardPorts: [5432], print: true, out, err }))
  t.equal(printed.code, 0)
  t.equal(printed.out, podRuleset({ dnsPort: 15053, httpPort: 80, tlsPort: 443, forwardPorts: [5432], adminPort: 9901 }))
  t.equal(printed.err, '')
  const bad = await capture((out, err) => runK8sInit({ dnsPort: 9901, print: true, out, err }))
  t.equal(bad.code, 2)
  t.match(bad.err, /^mcp-hangar k8s init: invalid configuration in k8s init flags:\n {2}dnsPort: port 9901 is a protected/)
  t.equal(bad.out, '')
  const missing = await capture((out, err) => runK8sInit({ config: '/nonexistent/hangar.yaml', provider: 'db', print: true, out, err }))
  t.equal(missing.code, 2)
  t.match(missing.err, /\/nonexistent\/hangar\.yaml/)
})

/** A client run inside the namespace as `uid`: each action's outcome, in order. */
type Action = { kind: 'tcp'; host: string; port: number } | { kind: 'udp'; host: string; port: number } | { kind: 'resolve'; server: string; name: string }
const CLIENT = `
const net = require('node:net'), dgram = require('node:dgram'), dns = require('node:dns')
const one = (a) => new Promise((resolve) => {
  const done = (r) => { clearTimeout(timer); resolve(r) }
  const timer = setTimeout(() => done({ error: 'timeout' }), a.kind === 'udp' ? 1000 : 3000)
  if (a.kind === 'tcp') {
    const s = net.connect({ host: a.host, port: a.port })
    let data = ''
    s.on('data', (d) => (data += d))
    s.on('end', () => done({ tag: data.trim() }))
    s.on('error', (e) => done({ error: e.code }))
  } else if (a.kind === 'udp') {
    const s = dgram.createSocket(a.host.includes(':') ? 'udp6' : 'udp4')
    s.on('message', (m, rinfo) => { s.close(); done({ tag: m.toString(), from: rinfo.address }) })
    s.on('error', (e) => { s.close(); done({ error: e.code }) })
    s.send('q', a.port, a.host)
  } else {
    const r = new dns.promises.Resolver({ timeout: 1500, tries: 1 })
    r.setServers([a.server])
    r.resolve4(a.name).then((ips) => done({ ips }), (e) => done({ error: e.code }))
  }
})
;(async () => { const out = []; for (const a of JSON.parse(process.argv[1])) out.push(await one(a)); process.stdout.write(JSON.stringify(out), () => process.exit(0)) })()
`

/** The listeners in the namespace (run as root): each TCP connection gets its tag and is closed; UDP gets the tag, DNS a real answer. */
function serverScript(x: number): string {
  return `
const net = require('node:net'), dgram = require('node:dgram'), dnsPacket = require('dns-packet')
const tcp = [['127.0.0.1', ${PORTS.dns}, 'dns-tcp'], ['127.0.0.1', ${PORTS.http}, 'http'], ['127.0.0.1', ${PORTS.tls}, 'tls'], ['127.0.0.1', ${PORTS.forward}, 'forward'],
  ['127.0.0.1', ${PORTS.admin}, 'admin'], ['127.0.0.1', ${PORTS.other}, 'other'], ['10.251.${x}.1', ${PORTS.target}, 'target'], ['10.251.${x}.1', 80, 'real80'],
  ['10.251.${x}.1', ${PORTS.admin}, 'admin-on-pod-address'], ['fd51:${x}::1', ${PORTS.target}, 'target6']]
let ready = 0
const up = () => { if (++ready === tcp.length + 2) process.stdout.write('ready\\n') }
for (const [host, port, tag] of tcp) net.createServer((s) => s.end(tag + '\\n')).listen(port, host, up)
// The sidecar's DNS listener, on 127.0.0.1 only: a real answer for any A question, "dns-udp" for anything else.
const dnsSock = dgram.createSocket('udp4')
dnsSock.on('message', (m, r) => {
  let reply
  try {
    const q = dnsPacket.decode(m)
    reply = dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions[0].name, ttl: 30, data: '10.251.${x}.77' }] })
  } catch { reply = Buffer.from('dns-udp') }
  dnsSock.send(reply, r.port, r.address)
})
dnsSock.bind(${PORTS.dns}, '127.0.0.1', up)
// A real resolver on the test address: what the sidecar's own DNS reaches.
const realDns = dgram.createSocket('udp4')
realDns.on('message', (m, r) => realDns.send('real-dns', r.port, r.address))
realDns.bind(53, '10.251.${x}.1', up)
`
}

t.test('in a namespace: the loaded rules exempt the sidecar, redirect the provider, refuse and record the rest', { skip: netnsSkip() }, async (t) => {
  const ns = `hgt-k8s-${randomBytes(4).toString('hex')}`
  const x = randomInt(1, 250)
  const A = `10.251.${x}.1` // a test address of the namespace (not loopback)
  const NOWHERE = `10.251.${x}.2` // unassigned: routed into the in-namespace veth, which leads nowhere
  const A6 = `fd51:${x}::1`
  const started: ChildProcess[] = []
  t.teardown(() => {
    for (const p of started) p.kill('SIGKILL')
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }) } catch { /* not made */ }
  })
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  execFileSync('ip', ['netns', 'add', ns])
  ip('link', 'set', 'lo', 'up')
  // No dummy driver in this kernel: a veth pair with both ends inside the namespace serves.
  ip('link', 'add', 'hgk0', 'type', 'veth', 'peer', 'name', 'hgk1')
  ip('link', 'set', 'hgk0', 'up')
  ip('link', 'set', 'hgk1', 'up')
  ip('addr', 'add', `${A}/24`, 'dev', 'hgk0')
  ip('addr', 'add', `${A6}/64`, 'dev', 'hgk0', 'nodad')

  // The real command, in the namespace, as the init container runs it.
  const init = [process.execPath, '--import', 'tsx', '--input-type=module', '-e',
    `import { runK8sInit } from ${JSON.stringify(join(root, 'k8s/init.ts'))}; process.exitCode = await runK8sInit({ dnsPort: ${PORTS.dns}, httpPort: ${PORTS.http}, tlsPort: ${PORTS.tls}, forwardPorts: [${PORTS.forward}], adminPort: ${PORTS.admin} })`]
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' }
  const loaded = execFileSync('ip', ['netns', 'exec', ns, ...init], { cwd: root, env, encoding: 'utf8', timeout: 30_000 })
  t.match(loaded, /pod nftables rules loaded \(table inet hangar\)/)
  t.throws(() => execFileSync('nft', ['list', 'table', 'inet', 'hangar'], { stdio: 'ignore' }), 'the host has no such table: the rules went into the namespace only')
  // Loading again replaces the table (a restarted init container).
  execFileSync('ip', ['netns', 'exec', ns, ...init], { cwd: root, env, encoding: 'utf8', timeout: 30_000 })
  const tables = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { encoding: 'utf8' })
  t.equal(tables.trim(), 'table inet hangar', 'one table after two loads')

  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', serverScript(x)], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
  started.push(server)
  await new Promise<void>((resolve, reject) => {
    let buf = ''
    server.stdout!.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('ready')) resolve() })
    server.on('exit', (c) => reject(new Error(`listeners exited ${c}`)))
  })

  const as = async (uid: number, actions: Action[]): Promise<Array<{ tag?: string; from?: string; error?: string; ips?: string[] }>> => {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', process.execPath, '-e', CLIENT, JSON.stringify(actions)], { cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8', timeout: 30_000 })
    return JSON.parse(out)
  }
  const bypass = () => parseBypassSet(execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'hangar'], { encoding: 'utf8' }))
  const recorded = (ip: string, protocol: string, port: number) => bypass().some((e) => e.ip === ip && e.protocol === protocol && e.port === port && e.packets > 0)

  await t.test('the sidecar uid (65532) reaches the test address, IPv4 and IPv6, its real port 80 and DNS, and the admin port; nothing of it is recorded', async (t) => {
    const [v4, v6, real80, realDns, admin] = await as(65532, [
      { kind: 'tcp', host: A, port: PORTS.target }, { kind: 'tcp', host: A6, port: PORTS.target }, { kind: 'tcp', host: A, port: 80 },
      { kind: 'udp', host: A, port: 53 }, { kind: 'tcp', host: '127.0.0.1', port: PORTS.admin },
    ])
    t.same(v4, { tag: 'target' })
    t.same(v6, { tag: 'target6' })
    t.same(real80, { tag: 'real80' }, 'its tcp 80 is not redirected')
    t.same(realDns, { tag: 'real-dns', from: A }, 'its DNS is not redirected')
    t.same(admin, { tag: 'admin' })
    t.same(bypass(), [], 'no drop recorded')
  })

  await t.test('the provider uid (1000) is refused at once, IPv4, IPv6, tcp and udp, and each destination is recorded', async (t) => {
    const [v4, v6, udp, udp6] = await as(1000, [
      { kind: 'tcp', host: A, port: PORTS.target }, { kind: 'tcp', host: A6, port: PORTS.target },
      { kind: 'udp', host: NOWHERE, port: 4444 }, { kind: 'udp', host: `fd51:${x}::2`, port: 4445 },
    ])
    t.same(v4, { error: 'ECONNREFUSED' }, 'a reset, not a timeout')
    t.same(v6, { error: 'ECONNREFUSED' })
    t.equal(udp?.tag, undefined, 'the udp datagram got no answer')
    t.equal(udp6?.tag, undefined, 'nor the IPv6 one')
    t.ok(recorded(A, 'tcp', PORTS.target), `bypass4 has ${A} . tcp . ${PORTS.target}`)
    t.ok(recorded(A6, 'tcp', PORTS.target), `bypass6 has ${A6} . tcp . ${PORTS.target}`)
    t.ok(recorded(NOWHERE, 'udp', 4444), `bypass4 has ${NOWHERE} . udp . 4444`)
    t.ok(recorded(`fd51:${x}::2`, 'udp', 4445), 'bypass6 has the udp destination')
  })

  await t.test("the provider's DNS to any address lands on the sidecar's DNS listener on 127.0.0.1, and its answers are accepted", async (t) => {
    const [resolved, viaLoopback, raw, tcp53, udp6] = await as(1000, [
      { kind: 'resolve', server: NOWHERE, name: 'anything.example' },
      { kind: 'resolve', server: '127.0.0.53', name: 'other.example' },
      { kind: 'udp', host: A, port: 53 },
      { kind: 'tcp', host: NOWHERE, port: 53 },
      { kind: 'udp', host: `fd51:${x}::2`, port: 53 },
    ])
    t.same(resolved, { ips: [`10.251.${x}.77`] }, 'a resolver asking a nonexistent server gets the sidecar listener\'s answer (from the address it asked)')
    t.same(viaLoopback, { ips: [`10.251.${x}.77`] }, 'a loopback resolver address is redirected too')
    t.same(raw, { tag: 'dns-udp', from: A }, 'udp 53 to the real resolver address lands on the sidecar, not on the resolver there')
    t.same(tcp53, { tag: 'dns-tcp' }, 'tcp 53 too')
    t.equal(udp6?.tag, undefined, 'IPv6 DNS is not redirected (no answer)')
    t.ok(recorded(`fd51:${x}::2`, 'udp', 53), 'IPv6 DNS is refused and recorded')
  })

  await t.test('the provider\'s tcp 80, 443 and forward port to any address land on the transparent listeners and the forward', async (t) => {
    const [http, tls, fwd, http6] = await as(1000, [
      { kind: 'tcp', host: A, port: 80 }, { kind: 'tcp', host: NOWHERE, port: 443 }, { kind: 'tcp', host: NOWHERE, port: PORTS.forward },
      { kind: 'tcp', host: A6, port: 80 },
    ])
    t.same(http, { tag: 'http' }, 'not the real listener on port 80 there (the sidecar uid reached that one)')
    t.same(tls, { tag: 'tls' })
    t.same(fwd, { tag: 'forward' })
    t.same(http6, { error: 'ECONNREFUSED' }, 'IPv6 tcp 80 is refused (the sidecar listens on IPv4)')
    t.notOk(recorded(A, 'tcp', 80), 'a redirected connection is not recorded as a drop')
    t.ok(recorded(A6, 'tcp', 80), 'the IPv6 one is')
  })

  await t.test('the provider reaches loopback but not the admin port, on loopback or the pod address', async (t) => {
    const [other, admin, adminAlt, adminPod] = await as(1000, [
      { kind: 'tcp', host: '127.0.0.1', port: PORTS.other }, { kind: 'tcp', host: '127.0.0.1', port: PORTS.admin },
      { kind: 'tcp', host: '127.0.0.2', port: PORTS.admin }, { kind: 'tcp', host: A, port: PORTS.admin },
    ])
    t.same(other, { tag: 'other' }, 'control: another loopback port is open to the provider')
    t.same(admin, { error: 'ECONNREFUSED' })
    t.same(adminAlt, { error: 'ECONNREFUSED' }, 'another 127/8 address, same port')
    t.same(adminPod, { error: 'ECONNREFUSED' }, 'the pod address, same port')
    t.ok(recorded('127.0.0.1', 'tcp', PORTS.admin), 'the attempt is recorded')
  })

  await t.test('a listener of the provider answers connections made to it (replies are not egress)', async (t) => {
    const listener = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', '1000', '--regid', '1000', '--clear-groups', process.execPath, '-e',
      `require('node:net').createServer((s) => s.end('provider\\n')).listen(7100, '${A}', () => process.stdout.write('ready\\n'))`], { cwd: '/', env, stdio: ['ignore', 'pipe', 'inherit'] })
    started.push(listener)
    await new Promise<void>((resolve, reject) => {
      listener.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve() })
      listener.on('exit', (c) => reject(new Error(`provider listener exited ${c}`)))
    })
    const [reply] = await as(65532, [{ kind: 'tcp', host: A, port: 7100 }])
    t.same(reply, { tag: 'provider' }, "the provider's SYN-ACK and data go back to the connecting sidecar")
    t.notOk(recorded(A, 'tcp', 7100), 'nothing recorded')
    listener.kill('SIGKILL')
  })

  await t.test('another non-sidecar uid (0, the provider running as root) is treated like 1000', async (t) => {
    const [target, http] = await as(0, [{ kind: 'tcp', host: A, port: PORTS.target }, { kind: 'tcp', host: A, port: 80 }])
    t.same(target, { error: 'ECONNREFUSED' })
    t.same(http, { tag: 'http' })
  })
})
