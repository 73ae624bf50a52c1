/**
 * rsyslog started by a test: its own config, work dir and pid file under a temp dir, listening on
 * a free unprivileged port of 127.0.0.1 (never the system service). One instance serves one
 * input: `tls` (imtcp + gtls, x509/name client verification, so only a client certificate with
 * the permitted name gets in), `tcp` or `udp`. `mmpstrucdata` turns the RFC 5424 structured data
 * into JSON, and omfile writes one JSON line per parsed message: `{msgid, app, host, sd, msg}`.
 * Also a throwaway PKI (CA, server certificate for 127.0.0.1, client certificate) made with openssl.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as net from 'node:net'
import { createServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const RSYSLOGD = '/usr/sbin/rsyslogd'

/** Files of a test PKI (paths). */
export interface SyslogPki {
  dir: string
  ca: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** A second CA that signed nothing here (a wrong trust anchor). */
  otherCa: string
}

/** Creates a CA, a server certificate (IP SAN 127.0.0.1, CN `syslog.test`) and a client certificate (CN `hangar-client`). */
export function makeSyslogPki(): SyslogPki {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-syslog-pki-'))
  const run = (args: string[]) => execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  const ca = (name: string) => run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  ca('ca')
  ca('other-ca')
  const leaf = (name: string, cn: string, ext: string) => {
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
    writeFileSync(join(dir, `${name}.cnf`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}\n`)
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.cnf`])
  }
  leaf('server', 'syslog.test', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:syslog.test')
  leaf('client', 'hangar-client', 'extendedKeyUsage=clientAuth\nsubjectAltName=DNS:hangar-client')
  return { dir, ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key'), otherCa: join(dir, 'other-ca.pem') }
}

/** A free port on 127.0.0.1 (TCP, or UDP). */
export async function freePort(udp = false): Promise<number> {
  if (udp) {
    const s = createSocket('udp4')
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    const p = s.address().port
    await new Promise<void>((resolve) => s.close(() => resolve()))
    return p
  }
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const p = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return p
}

/** One parsed message as rsyslog wrote it. */
export interface Parsed {
  msgid: string
  app: string
  host: string
  /** `$!rfc5424-sd` from mmpstrucdata: SD-ID → param → value. */
  sd: Record<string, Record<string, string>>
  msg: string
}

export interface Rsyslog {
  port: number
  out: string
  /** Messages written so far. */
  parsed(): Parsed[]
  /** Starts (again) on the same port; resolves when it listens. */
  start(): Promise<void>
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>
}

/** Starts rsyslogd for one input. The caller's teardown must call `stop()` and remove `dir`. */
export async function startRsyslog(o: { protocol: 'tls' | 'tcp' | 'udp'; pki?: SyslogPki; dir: string }): Promise<Rsyslog> {
  const port = await freePort(o.protocol === 'udp')
  const out = join(o.dir, 'parsed.jsonl')
  const work = join(o.dir, 'work')
  execFileSync('mkdir', ['-p', work])
  const tls = o.protocol === 'tls'
  const conf = `
global(workDirectory="${work}" maxMessageSize="64k"${tls ? ` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${o.pki!.ca}" defaultNetstreamDriverCertFile="${o.pki!.serverCert}" defaultNetstreamDriverKeyFile="${o.pki!.serverKey}"` : ''})
${o.protocol === 'udp' ? `module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${port}" ruleset="hangar")` : `module(load="imtcp"${tls ? ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/name" permittedPeer=["hangar-client"]' : ''})\ninput(type="imtcp" address="127.0.0.1" port="${port}" ruleset="hangar" supportOctetCountedFraming="on")`}
module(load="mmpstrucdata")
template(name="parsed" type="list") {
  constant(value="{\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"host\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"sd\\":") property(name="$!rfc5424-sd")
  constant(value=",\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\"}\\n")
}
ruleset(name="hangar") {
  action(type="mmpstrucdata")
  action(type="omfile" file="${out}" template="parsed" flushOnTXEnd="on" asyncWriting="off")
}
`
  const confFile = join(o.dir, 'rsyslog.conf')
  writeFileSync(confFile, conf)
  execFileSync(RSYSLOGD, ['-N1', '-f', confFile], { stdio: ['ignore', 'ignore', 'pipe'] })
  let child: ChildProcess | undefined
  const r: Rsyslog = {
    port, out,
    // Complete lines only: rsyslog may be writing the last one.
    parsed: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Parsed) : []),
    async start() {
      child = spawn(RSYSLOGD, ['-n', '-f', confFile, '-i', join(o.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
      const end = Date.now() + 10_000
      for (;;) {
        if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${err}`)
        if (o.protocol === 'udp' ? await new Promise((res) => setTimeout(() => res(true), 300)) : await probe(port)) return
        if (Date.now() > end) throw new Error(`rsyslogd did not listen on ${port}: ${err}`)
        await new Promise((res) => setTimeout(res, 50))
      }
    },
    async stop() {
      const c = child
      child = undefined
      if (!c || c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGTERM')
      })
    },
  }
  await r.start()
  return r
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new net.Socket()
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
    s.connect(port, '127.0.0.1')
  })
}

/** Removes a directory tree (teardown). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
