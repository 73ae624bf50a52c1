/**
 * Where an issuer's signing keys come from: a JWK Set served over HTTPS (`jwks_uri`, RFC 7517 §5;
 * OpenID Connect Discovery 1.0 §3 `jwks_uri`) or a JWK Set file (`jwks_file`).
 *
 * The remote set is `jose`'s `createRemoteJWKSet`: fetched on first use, kept for `jwks_cache_ms`,
 * fetched again when a token names an unknown `kid` (key rotation) but never more often than once
 * per `jwks_cooldown_ms`, each fetch bounded by `jwks_timeout_ms`. The fetch goes through an undici
 * `Agent` of its own, with `ca_file` as its trust anchors when given (a private issuer), so nothing
 * else in the process trusts that CA; redirects are not followed (jose asks for `redirect:
 * manual`), and any answer but 200 with a JSON JWK Set is a failed fetch.
 */
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'

/** The keys of one issuer, for `jwtVerify`. */
export interface KeySource {
  readonly getKey: JWTVerifyGetKey
  /** Closes the connection pool of a remote source. Idempotent. */
  close(): Promise<void>
}

/**
 * A key source over a JWK Set file (`{"keys":[…]}`), read once, now.
 * @param at the config path of the issuer entry (`ingress.auth.oidc[0]`), for errors
 * @throws Error naming `<at>.jwks_file` when the file cannot be read or is not a JWK Set
 */
export function fileKeySource(path: string, at: string): KeySource {
  let set: JSONWebKeySet
  try {
    set = JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet
  } catch (err) {
    throw new Error(`${at}.jwks_file: cannot read a JWK Set from ${path}: ${(err as Error).message}`)
  }
  try {
    const getKey = createLocalJWKSet(set)
    return { getKey, close: async () => {} }
  } catch (err) {
    throw new Error(`${at}.jwks_file: ${path} is not a JWK Set: ${(err as Error).message}`)
  }
}

/** What {@link remoteKeySource} needs. */
export interface RemoteKeyOptions {
  uri: string
  /** PEM CA bundle file the JWKS server must chain to (default: Node's roots). */
  caFile?: string
  /** Fetch timeout, ms. */
  timeoutMs: number
  /** How long a fetched set is used, ms. */
  cacheMs: number
  /** Shortest time between two fetches, ms. */
  cooldownMs: number
  /** Called after each fetch: `ok` (HTTP 200) or `error` (anything else, or no answer). */
  onFetch?: (outcome: 'ok' | 'error') => void
}

/**
 * A key source over a remote JWK Set (rules at the top of this file).
 * @param at the config path of the issuer entry, for errors
 * @throws Error naming `<at>.ca_file` when the CA file cannot be read
 */
export function remoteKeySource(o: RemoteKeyOptions, at: string): KeySource {
  let ca: string | undefined
  if (o.caFile !== undefined) {
    try {
      ca = readFileSync(o.caFile, 'utf8')
    } catch (err) {
      throw new Error(`${at}.ca_file: ${(err as Error).message}`)
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${at}.ca_file: ${o.caFile} holds no PEM certificate`)
  }
  const agent = new Agent({ connect: ca === undefined ? {} : { ca }, connections: 2 })
  const fetchJwks: FetchImplementation = async (url, init) => {
    try {
      const res = await undiciFetch(url, { method: init.method, redirect: init.redirect, signal: init.signal, headers: Object.fromEntries(init.headers), dispatcher: agent })
      o.onFetch?.(res.status === 200 ? 'ok' : 'error')
      return res as unknown as Response
    } catch (err) {
      o.onFetch?.('error')
      throw err
    }
  }
  const getKey = createRemoteJWKSet(new URL(o.uri), {
    timeoutDuration: o.timeoutMs,
    cacheMaxAge: o.cacheMs,
    cooldownDuration: o.cooldownMs,
    [customFetch]: fetchJwks,
  })
  let closed = false
  return {
    getKey,
    close: async () => {
      if (closed) return
      closed = true
      await agent.close()
    },
  }
}
