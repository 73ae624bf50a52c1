#!/usr/bin/env node
/**
 * The quickstart's offline "internet": a few web sites and a DNS server that knows them, all on
 * this machine, so the quickstart shows real allowed and denied fetches without any network.
 *
 * As root with `ip`: a link `hgqs0` (a dummy link; an empty bridge where the kernel has no dummy
 * driver) holds 198.18.10.1/24 and one address per site; each site serves a small HTML page on
 * port 80 of its address. 198.18/15 is the benchmarking range (RFC 2544): never a real site.
 * Without root: the sites are served on 127.0.0.1 high ports instead and every name maps to
 * 127.0.0.1 (mcp-hangar then runs in cooperative mode anyway).
 *
 * DNS (UDP and TCP, default 127.0.0.1:5353): A records for the sites, NOERROR with no answer for
 * any other type of a known name, NXDOMAIN for every other name, FORMERR for a message that does
 * not parse, NOTIMP for an opcode other than QUERY, REFUSED for a class other than IN.
 *
 * Prints `sites ready` on a line of its own once everything listens. SIGINT/SIGTERM: closes the
 * servers, removes the link, exits 0. A stale link of the same name is removed at start.
 *
 *   node examples/quickstart/sites.mjs [--dns 127.0.0.1:5353] [--link hgqs0] [--subnet 198.18.10]
 *                                      [--port-base 18080] [--loopback]
 * --subnet is the /24 the sites live in (first three octets); --loopback forces the no-root mode;
 * --port-base is the first port of that mode (0: a free port per site, printed).
 */
import { Buffer } from 'node:buffer'
import { execFileSync } from 'node:child_process'
import console from 'node:console'
import { createSocket } from 'node:dgram'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import process from 'node:process'
import { parseArgs } from 'node:util'
import dnsPacket from 'dns-packet'

/** The sites: name, last octet of their address, one line about them. */
const SITES = [
  { name: 'example.com', octet: 10, about: 'This domain is for use in illustrative examples in documents.' },
  { name: 'en.wikipedia.org', octet: 11, about: 'Wikipedia, the free encyclopedia.' },
  { name: 'evil.example.net', octet: 66, about: 'A site that exists but that the fetch provider\'s policy does not allow. If a provider could read this page, its egress was not enforced.' },
]

let linkCreated = false
/** Everything listening (HTTP and TCP servers, the UDP socket), closed by cleanup(). */
const servers = []

const { values: opts } = parseArgs({
  options: {
    dns: { type: 'string', default: '127.0.0.1:5353' },
    link: { type: 'string', default: 'hgqs0' },
    subnet: { type: 'string', default: '198.18.10' },
    'port-base': { type: 'string', default: '18080' },
    loopback: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opts.help) {
  console.log('usage: node examples/quickstart/sites.mjs [--dns HOST:PORT] [--link NAME] [--subnet A.B.C] [--port-base N] [--loopback]')
  process.exit(0)
}
if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.subnet)) fatal(`--subnet must be the first three octets of a /24, e.g. 198.18.10 (got "${opts.subnet}")`)
if (!/^[a-z0-9_-]{1,15}$/i.test(opts.link)) fatal(`--link must be a valid interface name of at most 15 characters (got "${opts.link}")`)
const dnsAt = /^(.+):(\d{1,5})$/.exec(opts.dns)
if (!dnsAt) fatal(`--dns must be HOST:PORT (got "${opts.dns}")`)
const dnsHost = dnsAt[1]
const dnsPort = Number(dnsAt[2])
const portBase = Number(opts['port-base'])

const log = (line) => console.log(`sites: ${line}`)

function fatal(message) {
  console.error(`sites: ${message}`)
  cleanup()
  process.exit(1)
}

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function linkExists(name) {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Why the sites cannot have their own addresses here, or null when they can. */
function whyLoopback() {
  if (opts.loopback) return '--loopback was given'
  if (process.getuid?.() !== 0) return 'the local sites need root to get their own addresses (this is not root)'
  try {
    execFileSync('ip', ['link', 'show'], { stdio: 'ignore' })
  } catch {
    return 'the local sites need the `ip` command (iproute2), which is missing'
  }
  return null
}

/** Creates the link with the subnet's .1/24 and one /32 per site. */
function createLink() {
  const name = opts.link
  if (linkExists(name)) {
    ip('link', 'del', 'dev', name)
    log(`removed a stale ${name} link`)
  }
  try {
    ip('link', 'add', name, 'type', 'dummy')
  } catch (err) {
    // Some kernels (and sandboxes) have no dummy driver; a bridge with no ports holds local
    // addresses just as well and, like a dummy link, forwards nothing anywhere.
    if (!/unknown device type|not supported|operation not supported/i.test(String(err.stderr ?? err.message))) throw err
    ip('link', 'add', name, 'type', 'bridge')
  }
  linkCreated = true
  ip('addr', 'add', `${opts.subnet}.1/24`, 'dev', name)
  for (const s of SITES) ip('addr', 'add', `${opts.subnet}.${s.octet}/32`, 'dev', name)
  ip('link', 'set', 'dev', name, 'up')
}

function removeLink() {
  if (!linkCreated) return
  linkCreated = false
  try {
    ip('link', 'del', 'dev', opts.link)
  } catch {
    // already gone
  }
}

function cleanup() {
  for (const s of servers.splice(0)) {
    try {
      s.closeAllConnections?.()
      s.close()
    } catch {
      // not listening
    }
  }
  removeLink()
}

function page(site) {
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${site.name}</title></head>
<body>
<h1>${site.name}</h1>
<p>This is ${site.name}: a local copy served by the Hangar quickstart.</p>
<p>${site.about}</p>
</body>
</html>
`
}

function listen(server, port, host, what) {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port} (${what}): ${err.code ?? err.message}`)))
    server.listen({ port, host, exclusive: true }, () => resolve())
  })
}

async function serveSite(site, host, port) {
  const body = Buffer.from(page(site))
  const server = createHttpServer((req, res) => {
    log(`${site.name}: ${req.method} ${req.url} (Host: ${req.headers.host ?? '-'}) from ${req.socket.remoteAddress}`)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 }).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  server.keepAliveTimeout = 2000
  servers.push(server)
  await listen(server, port, host, site.name)
  return server.address().port
}

// ------------------------------------------------------------------ DNS

const RCODE = { NOERROR: 0, FORMERR: 1, NOTIMP: 4, NXDOMAIN: 3, REFUSED: 5 }

/** A bare header reply: the query's id, QR set, no sections. */
function headerReply(msg, rcode) {
  const b = Buffer.alloc(12)
  msg.copy(b, 0, 0, 2)
  b.writeUInt16BE(0x8000 | rcode, 2)
  return b
}

/** The reply to one DNS message, or null when none is due (a response, or under 2 bytes). */
function answerDns(msg, table) {
  if (msg.length < 2) return null
  let q
  try {
    q = dnsPacket.decode(msg)
  } catch {
    return headerReply(msg, RCODE.FORMERR)
  }
  if (msg.length < 12) return headerReply(msg, RCODE.FORMERR)
  if (q.type === 'response') return null
  if ((q.questions ?? []).length !== 1) return headerReply(msg, RCODE.FORMERR)
  if (((msg[2] >> 3) & 0xf) !== 0) return headerReply(msg, RCODE.NOTIMP)
  const question = q.questions[0]
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED)
  const base = { id: q.id ?? 0, type: 'response', questions: [question] }
  if ((question.class ?? 'IN') !== 'IN') return dnsPacket.encode({ ...base, flags: flags | RCODE.REFUSED })
  const address = table.get(String(question.name).toLowerCase().replace(/\.$/, ''))
  if (!address) return dnsPacket.encode({ ...base, flags: flags | RCODE.NXDOMAIN })
  const answers = question.type === 'A' ? [{ name: question.name, type: 'A', class: 'IN', ttl: 60, data: address }] : []
  return dnsPacket.encode({ ...base, flags, answers })
}

async function serveDns(table) {
  // reuseAddr: an mDNS responder (avahi) often holds 0.0.0.0:5353 with SO_REUSEADDR; our more
  // specific 127.0.0.1 bind then coexists with it and gets the unicast queries sent to it. TCP
  // below stays exclusive, so two copies of this script still cannot run on one port.
  const udp = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise((resolve, reject) => {
    udp.once('error', (err) => reject(new Error(`cannot listen on ${dnsHost}:${dnsPort} (DNS, udp): ${err.code ?? err.message}`)))
    udp.bind(dnsPort, dnsHost, () => resolve())
  })
  udp.on('error', () => {})
  udp.on('message', (msg, rinfo) => {
    const reply = answerDns(msg, table)
    if (reply) udp.send(reply, rinfo.port, rinfo.address)
  })
  servers.push(udp)

  const tcp = createTcpServer((sock) => {
    let buf = Buffer.alloc(0)
    sock.setTimeout(10_000, () => sock.destroy())
    sock.on('error', () => sock.destroy())
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < len + 2) break
        const reply = answerDns(buf.subarray(2, 2 + len), table)
        buf = buf.subarray(2 + len)
        if (!reply) continue
        const frame = Buffer.alloc(reply.length + 2)
        frame.writeUInt16BE(reply.length, 0)
        reply.copy(frame, 2)
        sock.write(frame)
      }
    })
  })
  servers.push(tcp)
  await listen(tcp, dnsPort, dnsHost, 'DNS, tcp')
}

// ------------------------------------------------------------------ main

async function main() {
  const why = whyLoopback()
  const table = new Map()
  if (why === null) {
    try {
      createLink()
    } catch (err) {
      fatal(`could not create the ${opts.link} link: ${String(err.stderr ?? err.message).trim()}`)
    }
    for (const s of SITES) {
      const addr = `${opts.subnet}.${s.octet}`
      table.set(s.name, addr)
      await serveSite(s, addr, 80)
      log(`${s.name} → ${addr} → http://${s.name}/ (link ${opts.link})`)
    }
  } else {
    log(`${why}.`)
    log('Serving them on 127.0.0.1 high ports instead, and the DNS maps every name to 127.0.0.1.')
    log('mcp-hangar runs in cooperative mode without root: egress is NOT enforced, and the demo says so.')
    for (const [i, s] of SITES.entries()) {
      table.set(s.name, '127.0.0.1')
      // --port-base 0: each site on a port of the kernel's choosing (no race with other programs).
      const port = await serveSite(s, '127.0.0.1', portBase === 0 ? 0 : portBase + i)
      log(`${s.name} → http://127.0.0.1:${port}/`)
    }
  }
  await serveDns(table)
  log(`DNS on ${dnsHost}:${dnsPort} (udp+tcp): ${[...table.keys()].join(', ')}; NXDOMAIN for every other name`)
  console.log('sites ready')
}

let stopping = false
function stop(signal) {
  if (stopping) return
  stopping = true
  log(`${signal}: stopping${linkCreated ? `, removing ${opts.link}` : ''}`)
  cleanup()
  process.exit(0)
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGHUP', () => stop('SIGHUP'))
process.on('uncaughtException', (err) => fatal(`unexpected error: ${err.stack ?? err}`))

main().catch((err) => fatal(err.message))
