/**
 * TLS test helpers: a throwaway CA and server certificate made with the openssl CLI at test
 * time, an HTTPS server on 127.0.0.1 that answers with a marker and the SNI it saw, capture of
 * real ClientHellos sent by node:tls, and a builder of synthetic ClientHellos (any SNI bytes,
 * any lengths) for parser tests.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'

const OPENSSL = '/usr/bin/openssl'

/** PEM text of a test CA and of a server certificate it signed. */
export interface TestPki {
  ca: string
  cert: string
  key: string
}

/**
 * Creates a CA and a server certificate for `names` (DNS SANs; `*.x` wildcards allowed; IP
 * literals become IP SANs). Valid for one day. Keys are P-256.
 */
export function makeTestPki(names: string[]): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pki-'))
  try {
    const run = (args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1',
      '-subj', '/CN=MCP Hangar Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${names[0] ?? 'localhost'}`])
    const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
    writeFileSync(join(dir, 'ext.cnf'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`)
    run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '1', '-extfile', 'ext.cnf'])
    return { ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), cert: readFileSync(join(dir, 'leaf.crt'), 'utf8'), key: readFileSync(join(dir, 'leaf.key'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Byte counts of one raw TCP connection as the test server saw them. */
export interface ServerConnection {
  bytesRead: number
  bytesWritten: number
}

/** A running HTTPS test server. */
export interface TlsTestServer {
  port: number
  server: HttpsServer
  /** The marker every response body starts with. */
  marker: string
  /** SNI of every completed handshake, in order (`null` = none sent). */
  sni: Array<string | null>
  /** Raw TCP connections accepted (counted at accept, byte counts filled in at close). */
  connections: ServerConnection[]
  /** Resolves when `n` connections have closed. */
  closedConnections(n: number, ms?: number): Promise<ServerConnection[]>
  close(): Promise<void>
}

/**
 * Starts an HTTPS server on 127.0.0.1 (port 0) answering every request with
 * `<marker> sni=<servername>` and `Connection: close`.
 */
export async function startTlsServer(pki: TestPki, marker = 'HANGAR-TLS-OK'): Promise<TlsTestServer> {
  const sni: Array<string | null> = []
  const connections: ServerConnection[] = []
  const sockets = new Set<Socket>()
  let closed = 0
  const waiters: Array<{ n: number; resolve: () => void }> = []
  const server = createHttpsServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const name = (req.socket as { servername?: string | false }).servername
    res.setHeader('Connection', 'close')
    res.end(`${marker} sni=${name || ''}`)
    req.resume()
  })
  server.on('connection', (s: Socket) => {
    const rec: ServerConnection = { bytesRead: 0, bytesWritten: 0 }
    connections.push(rec)
    sockets.add(s)
    s.on('close', () => {
      rec.bytesRead = s.bytesRead
      rec.bytesWritten = s.bytesWritten
      sockets.delete(s)
      closed++
      for (const w of waiters.splice(0)) {
        if (closed >= w.n) w.resolve()
        else waiters.push(w)
      }
    })
  })
  server.on('secureConnection', (s) => sni.push((s as { servername?: string | false }).servername || null))
  server.on('tlsClientError', () => {})
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const a = server.address()
  if (!a || typeof a !== 'object') throw new Error('no address')
  return {
    port: a.port,
    server,
    marker,
    sni,
    connections,
    closedConnections(n, ms = 5000) {
      if (closed >= n) return Promise.resolve(connections)
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${closed}/${n} connections closed within ${ms} ms`)), ms)
        waiters.push({ n, resolve: () => { clearTimeout(t); resolve(connections) } })
      })
    },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(() => r()))
    },
  }
}

/**
 * Captures the exact bytes of the ClientHello node:tls sends with `opts` (servername, ALPN, …):
 * a local TCP server reads complete TLS records until the handshake message is whole, then both
 * sides are destroyed. Independent of egress/sniff/tls.ts (record framing only).
 */
export async function captureClientHello(opts: Omit<ConnectionOptions, 'host' | 'port' | 'socket'> = {}): Promise<Buffer> {
  let done!: (b: Buffer) => void
  let failed!: (e: Error) => void
  const result = new Promise<Buffer>((resolve, reject) => {
    done = resolve
    failed = reject
  })
  const server = createServer((s) => {
    let buf = Buffer.alloc(0)
    s.on('error', () => {})
    s.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b])
      // Walk complete records; the hello is whole once the handshake bytes reach 4 + its length.
      let off = 0
      let hs = Buffer.alloc(0)
      while (buf.length >= off + 5) {
        const len = buf.readUInt16BE(off + 3)
        if (buf.length < off + 5 + len) break
        hs = Buffer.concat([hs, buf.subarray(off + 5, off + 5 + len)])
        off += 5 + len
        if (hs.length >= 4 && hs.length >= 4 + hs.readUIntBE(1, 3)) {
          done(buf.subarray(0, off))
          s.destroy()
          return
        }
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts })
  c.on('error', () => {})
  const timer = setTimeout(() => failed(new Error('no ClientHello captured within 5 s')), 5000)
  try {
    return await result
  } finally {
    clearTimeout(timer)
    c.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  }
}

/** Fields of a synthetic ClientHello. Defaults give a well-formed TLS 1.2-style hello. */
export interface HelloSpec {
  /** Raw host_name bytes (a string is taken as latin1); null = no server_name extension. */
  sni?: string | Buffer | null
  alpn?: string[]
  /** Extra extensions `[type, data]`, after server_name and ALPN. */
  extensions?: Array<[number, Buffer]>
  /** Replace the whole server_name extension data (for broken lists). */
  serverNameData?: Buffer
  sessionId?: Buffer
  /** Omit the extensions block entirely (pre-TLS 1.2 style). */
  noExtensions?: boolean
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])

/** The server_name extension data for one host_name (RFC 6066 §3). */
export function serverNameData(name: string | Buffer, nameType = 0): Buffer {
  const b = typeof name === 'string' ? Buffer.from(name, 'latin1') : name
  const entry = Buffer.concat([Buffer.from([nameType]), u16(b.length), b])
  return Buffer.concat([u16(entry.length), entry])
}

/** A ClientHello handshake message (type 1 + 3-byte length + body), without record framing. */
export function buildHelloMessage(spec: HelloSpec = {}): Buffer {
  const sid = spec.sessionId ?? Buffer.alloc(32, 7)
  const exts: Buffer[] = []
  const add = (type: number, data: Buffer) => exts.push(Buffer.concat([u16(type), u16(data.length), data]))
  if (spec.serverNameData) add(0, spec.serverNameData)
  else if (spec.sni !== undefined && spec.sni !== null) add(0, serverNameData(spec.sni))
  if (spec.alpn) {
    const list = Buffer.concat(spec.alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])))
    add(16, Buffer.concat([u16(list.length), list]))
  }
  for (const [t, d] of spec.extensions ?? []) add(t, d)
  const extBlock = Buffer.concat(exts)
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 0xab),
    Buffer.from([sid.length]), sid,
    u16(4), Buffer.from([0x13, 0x01, 0xc0, 0x2f]),
    Buffer.from([1, 0]),
    ...(spec.noExtensions ? [] : [u16(extBlock.length), extBlock]),
  ])
  return Buffer.concat([Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body])
}

/** Frames handshake bytes into TLS records of at most `fragment` bytes each (RFC 8446 §5.1). */
export function frameRecords(handshake: Buffer, fragment = 16384, version = 0x0301): Buffer {
  const out: Buffer[] = []
  for (let off = 0; off < handshake.length; off += fragment) {
    const part = handshake.subarray(off, Math.min(handshake.length, off + fragment))
    out.push(Buffer.from([22, version >> 8, version & 0xff]), u16(part.length), part)
  }
  return Buffer.concat(out)
}

/** A complete synthetic ClientHello in one record. */
export function buildClientHello(spec: HelloSpec = {}): Buffer {
  return frameRecords(buildHelloMessage(spec))
}
