/**
 * A local OIDC test issuer: signing keys generated in the test (RS256, ES256, EdDSA), their JWK
 * Set served over HTTPS on 127.0.0.1 with a throwaway CA (test/helpers/tls.ts), key rotation, a
 * count of JWK Set fetches, and a token minter (jose `SignJWT`).
 *
 *   const idp = await startTestIssuer()
 *   const token = await idp.mint({ sub: 'alice', groups: ['admins'] })
 *   config: { ingress: { auth: { oidc: [idp.entry()] } } }
 *   await idp.close()
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { makeTestPki } from './tls.js'

/** The algorithms the issuer can sign with. */
export type TestAlg = 'RS256' | 'ES256' | 'EdDSA'

/** One signing key: its private half, and its public JWK as published. */
export interface TestKey {
  alg: TestAlg
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

/** Options of {@link TestIssuer.mint}. */
export interface MintOptions {
  /** Algorithm of the current key to sign with. Default RS256. */
  alg?: TestAlg
  /** Sign with this key instead (e.g. one never published). */
  key?: TestKey
  /** Override or drop (`undefined`) the standard claims the minter sets. */
  iss?: string | undefined
  aud?: string | string[] | undefined
  /** Seconds from now (negative: in the past). Default 300; `null` = no `exp`. */
  expIn?: number | null
  /** Seconds from now for `nbf`; absent = no `nbf`. */
  nbfIn?: number
}

/** A running test issuer. */
export interface TestIssuer {
  /** `https://127.0.0.1:<port>`: the `iss` of minted tokens. */
  issuer: string
  /** The audience minted tokens carry by default. */
  audience: string
  jwksUri: string
  /** A PEM file of the CA that signed the server certificate (config `ca_file`). */
  caFile: string
  /** JWK Set fetches served so far. */
  readonly fetches: number
  /** The current key per algorithm (the one `mint` uses). */
  current: Record<TestAlg, TestKey>
  /** Makes a key (not published unless `publish`). */
  newKey(alg: TestAlg, publish?: boolean): Promise<TestKey>
  /** Publishes a new key for `alg` and makes it current (the old one stays published). */
  rotate(alg: TestAlg): Promise<TestKey>
  /** Removes a key from the published set. */
  unpublish(kid: string): void
  /** Signs a token: `claims` over `{iss, aud, iat, exp}` defaults (see {@link MintOptions}). */
  mint(claims?: JWTPayload, o?: MintOptions): Promise<string>
  /** An `oidc` config entry for this issuer (`jwks_uri` + `ca_file`), with `extra` merged in. */
  entry(extra?: Record<string, unknown>): Record<string, unknown>
  /** Stops serving (connections refused from now on); `close` still cleans up. */
  stop(): Promise<void>
  close(): Promise<void>
}

/** Starts an issuer with one published key per algorithm. */
export async function startTestIssuer(o: { audience?: string } = {}): Promise<TestIssuer> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-oidc-'))
  const pki = makeTestPki(['127.0.0.1'])
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, pki.ca)
  const published: JWK[] = []
  let fetches = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    if (req.url === '/jwks') {
      fetches++
      res.writeHead(200, { 'Content-Type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: published }))
    } else res.writeHead(404).end()
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const port = (server.address() as { port: number }).port
  const issuer = `https://127.0.0.1:${port}`
  const audience = o.audience ?? 'mcp-hangar-test'

  const newKey = async (alg: TestAlg, publish = false): Promise<TestKey> => {
    const pair = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' && { modulusLength: 2048 }) })
    const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' }
    if (publish) published.push(publicJwk)
    return { alg, kid, privateKey: pair.privateKey, publicJwk }
  }
  const current = {
    RS256: await newKey('RS256', true),
    ES256: await newKey('ES256', true),
    EdDSA: await newKey('EdDSA', true),
  }
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await new Promise<void>((done) => {
      server.close(() => done())
      for (const s of sockets) s.destroy()
    })
  }
  return {
    issuer, audience, caFile,
    jwksUri: `${issuer}/jwks`,
    get fetches() {
      return fetches
    },
    current,
    newKey,
    async rotate(alg) {
      const k = await newKey(alg, true)
      current[alg] = k
      return k
    },
    unpublish(kid) {
      const i = published.findIndex((k) => k.kid === kid)
      if (i >= 0) published.splice(i, 1)
    },
    async mint(claims = {}, m = {}) {
      const key = m.key ?? current[m.alg ?? 'RS256']
      const now = Math.floor(Date.now() / 1000)
      const body: JWTPayload = { sub: 'alice', iat: now, ...claims }
      if (!('iss' in m) || m.iss !== undefined) body.iss = 'iss' in m ? m.iss : issuer
      if (!('aud' in m) || m.aud !== undefined) body.aud = 'aud' in m ? m.aud : audience
      if (m.expIn !== null) body.exp = now + (m.expIn ?? 300)
      if (m.nbfIn !== undefined) body.nbf = now + m.nbfIn
      return new SignJWT(body).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey)
    },
    entry(extra = {}) {
      return { issuer, audience, jwks_uri: `${issuer}/jwks`, ca_file: caFile, ...extra }
    },
    stop,
    async close() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
