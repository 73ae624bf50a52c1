/**
 * End to end, as the provider sees it: a real process inside a network namespace whose only
 * reachable host is the sidecar (veth /30, no default route, resolv.conf → the sidecar's DNS
 * forwarder). Plain `https.get` / `http.get` (Node 20 ignores HTTP_PROXY) reach allowed names
 * through DNS steering and the transparent :443 (SNI) / :80 (Host) listeners; a CONNECT client
 * reaches them through the proxy; denied names get NXDOMAIN; QUIC, DoT and direct IPs go nowhere.
 * Upstreams are our own servers on the host's loopback, named by our own test DNS.
 */
import t from 'tap'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { networkInterfaces } from 'node:os'
import dnsPacket from 'dns-packet'
import { providerSchema } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { EgressSidecar } from '../../sidecar/egress.js'
import { MemorySink } from '../../signals/sink.js'
import { TestDnsServer } from '../helpers/dns-server.js'
import { close, listen } from '../helpers/net.js'
import { createNetns, netnsSkip } from '../helpers/netns.js'
import { makeTestPki } from '../helpers/tls.js'

const skip = netnsSkip()

t.test('provider in a network namespace: steering, SNI/Host routing, CONNECT, NXDOMAIN, no direct route', { skip }, async (t) => {
  const pki = makeTestPki(['api.test.example', 'evil.test.example'])
  const https = createHttpsServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    res.setHeader('Connection', 'close')
    res.end(`TLS-UPSTREAM sni=${(req.socket as { servername?: string }).servername} path=${req.url}`)
  })
  const tlsPort = await listen(https)
  t.teardown(() => close(https))
  const http = createHttpServer((req, res) => res.end(`HTTP-UPSTREAM host=${req.headers.host} path=${req.url}`))
  const httpPort = await listen(http)
  t.teardown(() => close(http))

  const dns = new TestDnsServer({
    records: {
      'api.test.example': [{ type: 'A', data: '127.0.0.1' }],
      'web.test.example': [{ type: 'A', data: '127.0.0.1' }],
      'evil.test.example': [{ type: 'A', data: '127.0.0.1' }],
      'rebind.test.example': [{ type: 'A', data: '10.0.0.7' }],
    },
  })
  await dns.listen()
  t.teardown(() => dns.close())

  const ns = createNetns()
  t.teardown(() => ns.destroy())
  const sink = new MemorySink()
  const config = providerSchema.parse({
    mode: 'remote',
    endpoint: 'http://127.0.0.1:1/mcp',
    sidecar: {
      proxy: `${ns.hostIp}:3128`,
      dns: `${ns.hostIp}:53`,
      transparent_http: `${ns.hostIp}:${httpPort}`,
      transparent_tls: `${ns.hostIp}:${tlsPort}`,
      admin: '127.0.0.1:0',
      address: ns.hostIp,
      dns_mode: 'steering',
      upstream_dns: [dns.address],
      observation_window_ms: 0,
    },
    capabilities: {
      enforcement_mode: 'block',
      network: {
        loopback_allowed: true,
        egress: [
          { host: 'api.test.example', port: tlsPort, protocol: 'https' },
          { host: 'web.test.example', port: httpPort, protocol: 'http' },
          { host: 'rebind.test.example', port: tlsPort, protocol: 'https' },
        ],
      },
    },
  })
  const sidecar = new EgressSidecar({ provider: 'nsprov', config, sink, log: silentLogger() })
  await sidecar.start()
  t.teardown(() => sidecar.stop())

  const node = (script: string, env: Record<string, string> = {}) =>
    ns.exec([process.execPath, '-e', script], { env: { PATH: process.env.PATH ?? '', CA: pki.ca, ...env } })

  await t.test('plain https.get to an allowed name: steered to :443, routed by SNI, certificate verified', async (t) => {
    const r = await node(`require('https').get('https://api.test.example:${tlsPort}/hello', { ca: process.env.CA }, (res) => { let b=''; res.on('data', d => b += d); res.on('end', () => console.log(res.statusCode, b)) }).on('error', e => { console.log('ERR', e.code, e.message); process.exitCode = 3 })`)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, `200 TLS-UPSTREAM sni=api.test.example path=/hello`)
    t.ok(dns.queriesFor('api.test.example').length >= 1, "the sidecar resolved the real address itself before dialling")
    t.ok(sink.signals.some((s) => s.type === 'egress_allowed' && s.destination?.host === 'api.test.example' && s.details?.via === 'transparent_tls'))
  })

  await t.test('plain http.get to an allowed name: steered to :80, routed by Host', async (t) => {
    const r = await node(`require('http').get('http://web.test.example:${httpPort}/p?q=1', (res) => { let b=''; res.on('data', d => b += d); res.on('end', () => console.log(res.statusCode, b)) }).on('error', e => { console.log('ERR', e.code); process.exitCode = 3 })`)
    t.equal(r.code, 0, r.stdout + r.stderr)
    t.match(r.stdout, `200 HTTP-UPSTREAM host=web.test.example:${httpPort} path=/p?q=1`)
  })

  await t.test('a denied name gets NXDOMAIN and one dns_denied signal', async (t) => {
    const before = sink.signals.filter((s) => s.type === 'dns_denied').length
    const r = await node(`require('dns').lookup('evil.test.example', (e, a) => console.log(e ? e.code : 'RESOLVED ' + a))`)
    t.match(r.stdout, 'ENOTFOUND')
    const denied = sink.signals.filter((s) => s.type === 'dns_denied' && s.destination?.host === 'evil.test.example')
    t.ok(denied.length >= 1 && denied.length - before >= 1, 'dns_denied signalled')
    t.equal(denied[0]!.rule, 'default-deny')
    t.equal(dns.queriesFor('evil.test.example').length, 0, 'a denied name never reaches the upstream resolver')
  })

  await t.test('an SNI the allowlist does not name is refused at :443 even when the client forces it', async (t) => {
    const r = await node(`const tls=require('tls'); const s=tls.connect({host:'${ns.hostIp}', port:${tlsPort}, servername:'evil.test.example', ca: process.env.CA}, () => console.log('CONNECTED')); s.on('error', e => console.log('ERR', e.code)); s.on('close', () => console.log('CLOSED'))`)
    t.notMatch(r.stdout, 'CONNECTED')
    t.ok(sink.signals.some((s) => s.type === 'egress_denied' && s.destination?.host === 'evil.test.example' && s.details?.via === 'transparent_tls'))
  })

  await t.test('CONNECT through the proxy (HTTP_PROXY-aware client) reaches the allowed name; a denied one gets 403', async (t) => {
    const script = `
      const http = require('http'), tls = require('tls');
      const tunnel = (target) => new Promise((res) => { const r = http.request({ host: '${ns.hostIp}', port: 3128, method: 'CONNECT', path: target }); r.on('connect', (resp, sock) => res({ status: resp.statusCode, decision: resp.headers['x-hangar-decision'], sock })); r.on('error', e => res({ status: 'ERR ' + e.code })); r.end() });
      (async () => {
        const ok = await tunnel('api.test.example:${tlsPort}');
        const s = tls.connect({ socket: ok.sock, servername: 'api.test.example', ca: process.env.CA }, () => s.write('GET /via-proxy HTTP/1.1\\r\\nHost: api.test.example\\r\\nConnection: close\\r\\n\\r\\n'));
        let b = ''; s.on('data', d => b += d); await new Promise(r => s.on('close', r));
        console.log('OK', ok.status, b.split('\\r\\n\\r\\n')[1]);
        const bad = await tunnel('evil.test.example:${tlsPort}');
        console.log('BAD', bad.status, bad.decision);
        const rebind = await tunnel('rebind.test.example:${tlsPort}');
        console.log('REBIND', rebind.status, rebind.decision);
      })()`
    const r = await node(script)
    t.match(r.stdout, `OK 200 TLS-UPSTREAM sni=api.test.example path=/via-proxy`)
    t.match(r.stdout, 'BAD 403 denied; rule=default-deny; reason=no_matching_rule')
    t.match(r.stdout, 'REBIND 403 denied; rule=always-denied:private; reason=no_allowed_address')
  })

  await t.test('DNS over TCP is served too (RFC 7766 framing)', async (t) => {
    const q = dnsPacket.streamEncode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'api.test.example' }] })
    const r = await node(`const s=require('net').connect(53,'${ns.hostIp}',()=>s.write(Buffer.from(process.env.Q,'base64'))); let b=Buffer.alloc(0); s.on('data',d=>{b=Buffer.concat([b,d]); if(b.length>=2&&b.length>=2+b.readUInt16BE(0)){console.log(b.toString('base64')); s.end()}}); s.on('error',e=>console.log('ERR',e.code))`, { Q: q.toString('base64') })
    const answer = dnsPacket.streamDecode(Buffer.from(r.stdout.trim(), 'base64'))
    t.equal(answer.id, 4242)
    t.same(answer.answers?.map((a) => (a as { data: unknown }).data), [ns.hostIp], 'steered to the sidecar address')
  })

  await t.test('no way around the sidecar: direct IPs have no route, QUIC (udp 443) and DoT (853) go nowhere', async (t) => {
    const other = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal && !i.address.startsWith('10.254.'))
    const target = other?.address ?? '192.0.2.1' // documentation range: never routed anywhere
    const r = await node(`
      const net=require('net'), dgram=require('dgram');
      const tcp=(h,p)=>new Promise(r=>{const s=net.connect({host:h,port:p,timeout:1500},()=>{r('CONNECTED');s.destroy()});s.on('error',e=>r(e.code));s.on('timeout',()=>{r('TIMEOUT');s.destroy()})});
      const udp=(h,p)=>new Promise(r=>{const s=dgram.createSocket('udp4');s.on('error',e=>{r(e.code);s.close()});s.on('message',()=>{r('ANSWERED');s.close()});s.connect(p,h,()=>{s.send(Buffer.from('quic-initial'));setTimeout(()=>{r('NO-ANSWER');try{s.close()}catch{}},800)})});
      (async()=>{console.log('DIRECT', await tcp('${target}', ${tlsPort}));console.log('QUIC', await udp('${ns.hostIp}', ${tlsPort}));console.log('DOT', await tcp('${ns.hostIp}', 853))})()`)
    t.match(r.stdout, /DIRECT (ENETUNREACH|EHOSTUNREACH|TIMEOUT)/, 'no route to any other host')
    t.match(r.stdout, /QUIC (NO-ANSWER|ECONNREFUSED)/, 'nothing answers QUIC')
    t.match(r.stdout, /DOT ECONNREFUSED/, 'nothing answers DoT')
  })
})
