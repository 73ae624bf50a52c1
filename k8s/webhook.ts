/**
 * The HTTPS server of the sidecar injection admission webhook (`mcp-hangar k8s webhook`); the
 * answers are k8s/admission.ts {@link reviewPod}.
 *
 * Routes: `POST /mutate` (an admission.k8s.io/v1 AdmissionReview, `Content-Type:
 * application/json`), `GET /healthz` (200 `ok`, for the kubelet's probes), `GET /metrics`
 * (Prometheus text, {@link createAdmissionMetrics}); anything else 404, a wrong method 405.
 *
 * Robustness, as the API server and hostile clients need it:
 * - The API server waits for a review (its webhook `timeoutSeconds`, 10 s by default), so every
 *   body that arrives whole gets an AdmissionReview back, unparseable JSON included (200,
 *   allowed:false, code 400), and a failure of the webhook itself is caught, logged and answered
 *   (allowed:false, code 500: fail closed; the webhook's `failurePolicy` has the last word only
 *   when there is no answer at all).
 * - Bodies are limited to {@link MAX_BODY_BYTES} (the API server's own request limit is 3 MiB):
 *   a larger one gets 413 with a plain JSON error (no AdmissionReview: the API server never sends
 *   one that large) as soon as its `Content-Length` or the bytes read pass the limit; the rest is
 *   read and discarded within bounds (core/http/body.ts), then the connection is closed.
 * - At most {@link WebhookOptions.maxConcurrentReviews} reviews are read at once (503 beyond) and
 *   at most {@link WebhookOptions.maxConnections} connections are open, so memory stays bounded.
 * - Slow clients are cut off: the TLS handshake ({@link WebhookOptions.handshakeTimeoutMs}), the
 *   request head ({@link WebhookOptions.headersTimeoutMs}) and the whole request
 *   ({@link WebhookOptions.requestTimeoutMs}) each have a deadline (node:http checks them every
 *   {@link WebhookOptions.checkIntervalMs}).
 * - Certificate rotation (cert-manager, Helm) without a restart: the certificate and key files are
 *   read again every {@link WebhookOptions.reloadIntervalMs} (a timer, not a file watch: a
 *   Kubernetes Secret volume is updated by swapping a symlink, which file watches miss) and, when
 *   either changed, installed for new connections with `server.setSecureContext`. A pair that
 *   does not load (half written, key and certificate not matching) is logged and the previous
 *   one kept; the next tick tries again.
 */
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { Socket } from 'node:net'
import { createSecureContext } from 'node:tls'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { BodyError, checkContentEncoding, checkContentType, readBody } from '../core/http/body.js'
import { apiJson } from '../core/http/respond.js'
import { listen } from '../core/listen.js'
import type { Logger } from '../core/log.js'
import { createAdmissionMetrics, type AdmissionMetrics } from '../core/metrics.js'
import { badRequest, reviewPod, reviewResult, type AdmissionReview } from './admission.js'
import type { InjectOptions } from './inject.js'

/** The largest AdmissionReview accepted, bytes: the API server's own request body limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024

/** Options of {@link startWebhook}. Times in ms. */
export interface WebhookOptions {
  /** PEM certificate chain file (the serving certificate first). */
  certFile: string
  /** PEM private key file. */
  keyFile: string
  /** Address to bind; `0.0.0.0` or `::` for all. */
  host: string
  /** Port; 0 = any free port. */
  port: number
  /** The injection: sidecar image, aggregator URL, signal token Secret, resources. */
  inject: Omit<InjectOptions, 'configFrom'>
  log: Logger
  /** How often the certificate and key files are read again. Default 30000. */
  reloadIntervalMs?: number
  /** TLS handshake deadline. Default 10000. */
  handshakeTimeoutMs?: number
  /** Deadline for the request head (line and headers), from the connection's first byte. Default 10000. */
  headersTimeoutMs?: number
  /** Deadline for the whole request, body included; at least `headersTimeoutMs`. Default 30000. */
  requestTimeoutMs?: number
  /** How often node:http checks the two deadlines above. Default 1000. */
  checkIntervalMs?: number
  /** Idle keep-alive connections are closed after this. Default 30000 (the API server reuses connections). */
  keepAliveTimeoutMs?: number
  /** Body limit in bytes. Default {@link MAX_BODY_BYTES}. */
  maxBodyBytes?: number
  /**
   * Reviews read and answered at once; one more is answered 503 with `Retry-After: 1` at once (the
   * API server counts it as a failed call: the webhook's `failurePolicy` applies). Bounds the memory
   * of bodies being read to this × `maxBodyBytes`. Default 32.
   */
  maxConcurrentReviews?: number
  /** Open connections (TLS handshakes included); beyond, new connections are closed at accept. Default 1024. */
  maxConnections?: number
  /** Metrics registry (default: a new one with process metrics). */
  metrics?: AdmissionMetrics
}

/** A running webhook. */
export interface Webhook {
  /** The bound port. */
  port: number
  server: Server
  metrics: AdmissionMetrics
  /**
   * Reads the certificate and key files now and installs them if they changed (what the timer
   * does). @returns `true` when a new pair was installed, `false` when unchanged.
   * @throws HangarError `HANGAR_USAGE` when the files cannot be read or do not form a usable pair
   *   (the pair in use stays).
   */
  reloadCertificate(): boolean
  /** Stops accepting, closes idle connections, waits up to `graceMs` (default 5000) for requests in flight, then closes the rest. */
  close(graceMs?: number): Promise<void>
}

/** Reads a TLS certificate and key pair and checks that it loads. @throws HangarError `HANGAR_USAGE` naming the file and the reason. */
export function readTlsPair(certFile: string, keyFile: string): { cert: string; key: string } {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      throw new HangarError(ERROR_CODES.USAGE, `${what} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
    }
  }
  const cert = read(certFile, '--tls-cert')
  const key = read(keyFile, '--tls-key')
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new HangarError(ERROR_CODES.USAGE, `--tls-cert ${certFile}: no PEM certificate in it`)
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new HangarError(ERROR_CODES.USAGE, `--tls-cert ${certFile} / --tls-key ${keyFile}: not a usable certificate and key pair (${(err as Error).message})`, { cause: err })
  }
  return { cert, key }
}

/** The answer to a review the webhook failed on: refused, code 500 (fail closed). */
function internalError(uid: string): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: false, status: { code: 500, reason: 'InternalError', message: 'mcp-hangar admission webhook: internal error (see its log)' } } }
}

/**
 * Starts the webhook server (see the file comment).
 * @returns the running {@link Webhook} once it listens.
 * @throws HangarError `HANGAR_USAGE` for an unreadable or unusable certificate/key;
 *   `HANGAR_LISTEN_FAILED` when the address cannot be bound.
 */
export async function startWebhook(opts: WebhookOptions): Promise<Webhook> {
  const log = opts.log
  const metrics = opts.metrics ?? createAdmissionMetrics()
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES
  let pair = readTlsPair(opts.certFile, opts.keyFile)
  const headersTimeout = opts.headersTimeoutMs ?? 10_000
  const server = createServer({
    cert: pair.cert,
    key: pair.key,
    minVersion: 'TLSv1.2',
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    headersTimeout,
    requestTimeout: Math.max(opts.requestTimeoutMs ?? 30_000, headersTimeout),
    connectionsCheckingInterval: opts.checkIntervalMs ?? 1000,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
  })
  server.maxConnections = opts.maxConnections ?? 1024
  const count = (result: ReturnType<typeof reviewResult> | 'overloaded') => metrics.admissionReviews.inc({ result })
  const maxReviews = opts.maxConcurrentReviews ?? 32
  let reviewing = 0

  async function mutate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = checkContentType(req.headers['content-type'])
    const encoding = checkContentEncoding(req.headers['content-encoding'])
    const refused = !type.ok ? type : !encoding.ok ? encoding : undefined
    if (refused) {
      count('bad_request')
      req.resume()
      apiJson(res, refused.status, { error: { code: refused.reason, message: refused.message } }, refused.headers)
      return
    }
    let body: Buffer
    try {
      body = await readBody(req, maxBody)
    } catch (err) {
      if (!(err instanceof BodyError)) throw err
      count('bad_request')
      log.warn({ status: err.status, remote: req.socket.remoteAddress }, 'admission review body refused')
      if (res.destroyed) return
      // closed once the discarded remainder has ended (a close with unread input would reset the 413)
      const closeAfter = () => (req.complete ? req.socket.end() : req.once('end', () => req.socket.end()))
      res.once('finish', closeAfter)
      apiJson(res, err.status, { error: { code: err.refusal.reason, message: err.refusal.message } })
      return
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch (err) {
      count('bad_request')
      apiJson(res, 200, badRequest('', `the body is not JSON: ${(err as Error).message}`))
      return
    }
    const request = (parsed as { request?: { uid?: unknown; kind?: { kind?: unknown }; namespace?: unknown; name?: unknown; operation?: unknown; dryRun?: unknown } } | null)?.request
    let review: AdmissionReview
    try {
      review = reviewPod(parsed, opts.inject)
    } catch (err) {
      // a bug, not bad input: refuse this pod (fail closed) with the request's uid, so the API
      // server shows the message instead of a uid mismatch
      log.error({ err: (err as Error)?.stack ?? String(err), uid: request?.uid }, 'admission review failed')
      review = internalError(typeof request?.uid === 'string' ? request.uid : '')
    }
    const result = reviewResult(review)
    count(result)
    log.info({ uid: review.response?.uid, result, kind: request?.kind?.kind, namespace: request?.namespace, name: request?.name, operation: request?.operation, dry_run: request?.dryRun === true, ...(result !== 'patched' && result !== 'unchanged' && { message: review.response?.status?.message }) }, 'admission review')
    apiJson(res, 200, review)
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/mutate') {
      if (req.method !== 'POST') {
        req.resume()
        apiJson(res, 405, { error: { code: 'method_not_allowed', message: 'POST an AdmissionReview to /mutate' } }, { Allow: 'POST' })
        return
      }
      if (reviewing >= maxReviews) {
        count('overloaded')
        req.resume()
        apiJson(res, 503, { error: { code: 'overloaded', message: `${maxReviews} admission reviews are in progress; retry` } }, { 'Retry-After': '1' })
        return
      }
      reviewing++
      try {
        await mutate(req, res)
      } finally {
        reviewing--
      }
      return
    }
    req.resume()
    if ((path === '/healthz' || path === '/metrics') && req.method !== 'GET' && req.method !== 'HEAD') {
      apiJson(res, 405, { error: { code: 'method_not_allowed', message: `GET ${path}` } }, { Allow: 'GET, HEAD' })
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2, 'Cache-Control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : 'ok')
    } else if (path === '/metrics') {
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Content-Length': Buffer.byteLength(text) })
      res.end(req.method === 'HEAD' ? undefined : text)
    } else {
      apiJson(res, 404, { error: { code: 'not_found', message: 'routes: POST /mutate, GET /healthz, GET /metrics' } })
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error)?.stack ?? String(err), path: req.url }, 'admission webhook request failed')
      if (req.url?.split('?')[0] === '/mutate') count('bad_request')
      if (res.headersSent || res.destroyed) {
        res.destroy()
        return
      }
      const answer = req.url?.split('?')[0] === '/mutate' ? internalError('') : { error: { code: 'internal_error', message: 'internal error' } }
      apiJson(res, req.url?.split('?')[0] === '/mutate' ? 200 : 500, answer)
    })
  })
  server.on('tlsClientError', (err: Error, socket: Socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed')
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // node:https reports failed TLS handshakes here too: those sockets carry no HTTP, destroy them.
    // An HTTP error gets a status line as node:http's default does, when no response has started.
    log.debug({ err: err.code ?? err.message, remote: socket.remoteAddress }, 'client error')
    const http = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code?.startsWith('HPE_') === true
    const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
    if (!http || !socket.writable || started) {
      socket.destroy()
      return
    }
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    // a peer that reads nothing must not hold the socket open
    setTimeout(() => socket.destroy(), 1000).unref()
  })

  function reloadCertificate(): boolean {
    const next = readTlsPair(opts.certFile, opts.keyFile)
    if (next.cert === pair.cert && next.key === pair.key) return false
    server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' })
    pair = next
    log.info({ cert: opts.certFile }, 'TLS certificate reloaded')
    return true
  }
  const timer = setInterval(() => {
    try {
      reloadCertificate()
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'TLS certificate not reloaded; the previous one stays in use')
    }
  }, opts.reloadIntervalMs ?? 30_000)
  timer.unref()

  let port: number
  try {
    port = await listen(server, { host: opts.host, port: opts.port, what: 'admission webhook' })
  } catch (err) {
    clearInterval(timer)
    throw err
  }
  log.info({ host: opts.host, port }, 'admission webhook listening')
  return {
    port,
    server,
    metrics,
    reloadCertificate,
    close(graceMs = 5000) {
      clearInterval(timer)
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs)
        force.unref()
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        server.closeIdleConnections()
      })
    },
  }
}
