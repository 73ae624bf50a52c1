/**
 * The operator console's static files at `/ui/` (the browser code of ui/, bundled by
 * scripts/ui-build.mjs into dist/ui/). The files hold no data and need no credential: the console
 * asks the user for a token once and reads everything through the `/v1/*` API with it, so every
 * role check stays on those routes.
 *
 * Every answer carries a strict Content-Security-Policy (only the aggregator's own scripts, styles
 * and API; no inline script or style, no eval, no framing, no form posts, no plugins),
 * `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`
 * (for browsers without `frame-ancestors`). Every file is `no-cache` with an `ETag`: the browser
 * keeps it but revalidates each use (a 304 without a body), so the page and its script never
 * come from two builds after an upgrade (their names carry no content hash). Only a fixed set of
 * file types is served, by name inside the console folder: the route's `{file}` segment cannot
 * hold a slash or start with a dot, and the resolved path is checked to stay inside the folder.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sendError } from './reply.js'

/**
 * The console's Content-Security-Policy (CSP Level 3, W3C): `default-src 'self'` with no
 * `'unsafe-inline'` or `'unsafe-eval'` anywhere, so an injected `<script>` or inline handler
 * never runs; `frame-ancestors 'none'` (no clickjacking); `form-action 'none'` (the console posts
 * with fetch only); `base-uri 'none'`; `object-src 'none'`.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The headers of every `/ui/` answer, errors included. */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': UI_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
})

/** The file types the console is made of → their Content-Type. Anything else is a 404. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * Where the built console is: `ui/` beside the running bundle (dist/mcp-hangar.mjs → dist/ui/),
 * or dist/ui/ of the source tree (aggregator/http/ui.ts run from source). Undefined when neither
 * holds an index.html (not built).
 */
export function defaultUiDir(): string | undefined {
  const candidates = ['./ui/', '../../dist/ui/', '../../ui/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  return candidates.find((d) => existsSync(join(d, 'index.html')))
}

/**
 * Answers one `GET /ui/…` request from `dir`.
 * @param file the file name (`index.html` for `/ui/`); the route admits one path segment without
 *   a leading dot, and this function refuses anything resolving outside `dir` all the same.
 * @param dir the built console folder; undefined → 404 naming the build step.
 */
export function serveUi(req: IncomingMessage, res: ServerResponse, file: string, dir: string | undefined): void {
  req.resume()
  if (!dir) return sendError(res, 404, 'not_found', 'the console is not built: run npm run build (it writes dist/ui/)', {}, UI_SECURITY_HEADERS)
  const type = TYPES[extname(file).toLowerCase()]
  const notFound = (): void => sendError(res, 404, 'not_found', `no console file ${JSON.stringify(file.slice(0, 100))}`, {}, UI_SECURITY_HEADERS)
  if (!type || file.includes('/') || file.includes('\\') || file.startsWith('.')) return notFound()
  let path: string
  try {
    const root = realpathSync(dir)
    path = realpathSync(join(root, file))
    if (!path.startsWith(root + sep) || !statSync(path).isFile()) return notFound()
  } catch {
    return notFound()
  }
  const body = readFileSync(path)
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  const headers: Record<string, string | number> = {
    ...UI_SECURITY_HEADERS,
    'Content-Type': type,
    ETag: etag,
    'Cache-Control': 'no-cache',
  }
  if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end()
  res.writeHead(200, { ...headers, 'Content-Length': body.length })
  res.end(body)
}

/** `GET /ui` → 308 to `/ui/` (the page's relative URLs resolve under it). */
export function redirectUi(req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  res.writeHead(308, { ...UI_SECURITY_HEADERS, Location: '/ui/', 'Content-Length': 0 }).end()
}
