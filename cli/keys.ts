/**
 * `mcp-hangar keys create --role R --name N [--expires 90d] | list [--json] | revoke <id>`: the
 * aggregator's API keys (docs/rbac.md), through its REST API (`POST /v1/keys`, `GET /v1/keys`,
 * `DELETE /v1/keys/{id}`), so the keys live where the aggregator keeps them and every change is
 * audited there with the actor.
 *
 * Where: `--aggregator URL`, else the aggregator of `-c hangar.yaml` (its `url`, or its `listen`
 * address), else `http://127.0.0.1:8000`. The credential (an admin API key, or a static admin
 * token) comes from `MCP_HANGAR_ADMIN_KEY` or `--token-file FILE` (its first line), never from the
 * command line, where other users see it in the process list.
 *
 * `create` prints the new key alone on stdout (so `KEY=$(mcp-hangar keys create …)` works) and
 * what it is on stderr: the aggregator shows a key only once. Exit codes: 0 done; 1 the
 * aggregator refused (its message is printed: 401, 403 naming the roles, 501 naming the license
 * requirement, 404 for an unknown key) or could not be reached; 2 a usage error.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { request } from 'undici'
import { loadConfig } from '../config/load.js'
import { rawEnv, readEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { ROLES, type ApiKeyInfo, type Role } from '../core/ports.js'
import { aggregatorUrlOf } from '../local/effective-config.js'

/** What every `keys` sub-command needs. */
export interface KeysTarget {
  /** The aggregator's base URL. */
  url: string
  /** The bearer credential. */
  token: string
  /** Lines for stdout and stderr (default: the process's). */
  out?: (line: string) => void
  err?: (line: string) => void
}

/** Longest relative expiry, days (100 years, as `aggregator.auth.key_default_ttl_days`). */
const MAX_EXPIRY_DAYS = 36_500

/**
 * `--expires`: a duration `<n>d` or `<n>h` from `now`, or an RFC 3339 time.
 * @returns the expiry as RFC 3339 UTC. @throws HangarError `HANGAR_USAGE` naming the option.
 */
export function parseExpires(value: string, now: number = Date.now()): string {
  const rel = /^(\d{1,6})([dh])$/.exec(value.trim())
  let at: number
  if (rel) {
    const n = Number(rel[1])
    const days = rel[2] === 'd' ? n : n / 24
    if (n === 0 || days > MAX_EXPIRY_DAYS) throw new HangarError(ERROR_CODES.USAGE, `--expires: expected 1d–${MAX_EXPIRY_DAYS}d (or hours, 1h…), got "${value}"`)
    at = now + days * 86_400_000
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim())) {
    at = Date.parse(value.trim())
    const [y, mo, d] = value.trim().slice(0, 10).split('-').map(Number) as [number, number, number]
    if (!Number.isFinite(at) || new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) throw new HangarError(ERROR_CODES.USAGE, `--expires: not a real time: "${value}"`)
    if (at <= now) throw new HangarError(ERROR_CODES.USAGE, `--expires: ${value} is in the past`)
  } else {
    throw new HangarError(ERROR_CODES.USAGE, `--expires: expected a duration such as 90d or 12h, or an RFC 3339 time such as 2027-01-31T00:00:00Z, got "${value}"`)
  }
  return new Date(at).toISOString()
}

/**
 * The credential: `--token-file` (first line, trimmed) or `MCP_HANGAR_ADMIN_KEY`.
 * @throws HangarError `HANGAR_USAGE` when there is none, both are given, or the file is unusable.
 */
export function credentialOf(o: { tokenFile?: string; envKey?: string }): string {
  if (o.tokenFile !== undefined && o.envKey !== undefined) throw new HangarError(ERROR_CODES.USAGE, 'both --token-file and MCP_HANGAR_ADMIN_KEY are set: give one')
  if (o.tokenFile !== undefined) {
    let text: string
    try {
      text = readFileSync(o.tokenFile, 'utf8')
    } catch (err) {
      throw new HangarError(ERROR_CODES.USAGE, `--token-file: cannot read ${o.tokenFile}: ${(err as Error).message}`)
    }
    const token = text.split(/\r?\n/)[0]!.trim()
    if (!token) throw new HangarError(ERROR_CODES.USAGE, `--token-file: ${o.tokenFile} is empty`)
    return token
  }
  if (o.envKey) return o.envKey
  throw new HangarError(ERROR_CODES.USAGE, 'no credential: set MCP_HANGAR_ADMIN_KEY to an admin API key (or admin token), or pass --token-file FILE (never the key itself on the command line)')
}

/** The aggregator's base URL: `--aggregator`, else `-c`'s aggregator, else 127.0.0.1:8000. @throws HangarError `HANGAR_USAGE` for a URL that is not http(s). */
export function aggregatorOf(o: { aggregator?: string; config?: string }): string {
  if (o.aggregator !== undefined) {
    let u: URL
    try {
      u = new URL(o.aggregator)
    } catch {
      throw new HangarError(ERROR_CODES.USAGE, `--aggregator: expected a URL such as http://127.0.0.1:8000, got "${o.aggregator}"`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HangarError(ERROR_CODES.USAGE, `--aggregator: expected http:// or https://, got "${o.aggregator}"`)
    return u.origin
  }
  if (o.config !== undefined) return aggregatorUrlOf(loadConfig(o.config, rawEnv()).config)
  return 'http://127.0.0.1:8000'
}

/** One answer of the aggregator. */
interface Answer { status: number; body: Record<string, unknown> | undefined; text: string }

async function call(t: KeysTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<Answer> {
  const res = await request(new URL(path, t.url), {
    method,
    headers: { authorization: `Bearer ${t.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    headersTimeout: 10_000, bodyTimeout: 10_000,
  })
  const text = await res.body.text()
  let parsed: Record<string, unknown> | undefined
  try {
    parsed = JSON.parse(text) as Record<string, unknown>
  } catch {
    parsed = undefined
  }
  return { status: res.statusCode, body: parsed, text }
}

/** The refusal line for a non-success answer. */
function refusal(a: Answer, what: string): string {
  const e = a.body?.error as { code?: string; message?: string } | undefined
  return `mcp-hangar keys: ${what}: HTTP ${a.status}${e?.code ? ` ${e.code}` : ''}: ${e?.message ?? a.text.slice(0, 300)}`
}

/** Runs one sub-command against the aggregator; prints the refusal and returns 1 on failure. */
async function run(t: KeysTarget, what: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn()
  } catch (err) {
    ;(t.err ?? stderr)(`mcp-hangar keys: ${what}: cannot reach the aggregator at ${t.url}: ${(err as Error).message}`)
    return 1
  }
}

const stdout = (l: string): void => void process.stdout.write(l + '\n')
const stderr = (l: string): void => void process.stderr.write(l + '\n')

/** `keys create`. @returns the exit code. */
export function keysCreate(t: KeysTarget, o: { name: string; role: Role; expires?: string }): Promise<number> {
  return run(t, 'create', async () => {
    const a = await call(t, 'POST', '/v1/keys', { name: o.name, role: o.role, ...(o.expires !== undefined && { expires: o.expires }) })
    if (a.status !== 201 || typeof a.body?.key !== 'string') {
      ;(t.err ?? stderr)(refusal(a, 'create'))
      return 1
    }
    const info = a.body as unknown as ApiKeyInfo & { key: string }
    ;(t.out ?? stdout)(info.key)
    ;(t.err ?? stderr)(`created API key ${info.id} "${info.name}" with role ${info.role}, ${info.expires ? `expiring ${info.expires}` : 'never expiring'}. This is the only time the key is shown: store it now.`)
    return 0
  })
}

/** The `keys list` table. Pure. */
export function formatKeys(keys: readonly ApiKeyInfo[], now: number = Date.now()): string {
  const rows = [['ID', 'NAME', 'ROLE', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'CREATED BY']]
  for (const k of keys) {
    const state = k.revoked ? 'revoked' : k.expires && Date.parse(k.expires) <= now ? 'expired' : 'active'
    rows.push([k.id, k.name, k.role, state, k.created, k.expires ?? 'never', k.last_used ?? 'never', k.created_by])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')
}

/** `keys list`. @returns the exit code. */
export function keysList(t: KeysTarget, o: { json?: boolean } = {}): Promise<number> {
  return run(t, 'list', async () => {
    const a = await call(t, 'GET', '/v1/keys')
    if (a.status !== 200 || !Array.isArray(a.body?.keys)) {
      ;(t.err ?? stderr)(refusal(a, 'list'))
      return 1
    }
    const keys = a.body.keys as ApiKeyInfo[]
    ;(t.out ?? stdout)(o.json ? JSON.stringify(keys, null, 2) : formatKeys(keys))
    return 0
  })
}

/** `keys revoke`. @returns the exit code. */
export function keysRevoke(t: KeysTarget, id: string): Promise<number> {
  return run(t, 'revoke', async () => {
    if (!/^hk_[0-9a-f]{8}$/.test(id)) {
      ;(t.err ?? stderr)(`mcp-hangar keys: revoke: expected a key id such as hk_3f9c1a2b (keys list shows them), got "${id.slice(0, 80)}"`)
      return 2
    }
    const a = await call(t, 'DELETE', `/v1/keys/${id}`)
    if (a.status !== 200) {
      ;(t.err ?? stderr)(refusal(a, 'revoke'))
      return 1
    }
    const k = (a.body as { revoked: ApiKeyInfo }).revoked
    ;(t.out ?? stdout)(`revoked ${k.id} "${k.name}" (role ${k.role}) at ${k.revoked ?? 'now'}`)
    return 0
  })
}

interface Common { aggregator?: string; config?: string; tokenFile?: string }

function target(o: Common): KeysTarget {
  return { url: aggregatorOf(o), token: credentialOf({ ...(o.tokenFile !== undefined && { tokenFile: o.tokenFile }), ...(readEnv().adminKey !== undefined && { envKey: readEnv().adminKey }) }) }
}

/** Registers `mcp-hangar keys …`. */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('API keys of the aggregator (RBAC; enterprise): create, list, revoke. The credential comes from MCP_HANGAR_ADMIN_KEY or --token-file')
  const common = (c: Command): Command => c
    .option('--aggregator <url>', 'the aggregator (default: the one of -c, else http://127.0.0.1:8000)')
    .option('-c, --config <file>', 'hangar.yaml: where the aggregator is when --aggregator is not given')
    .option('--token-file <file>', 'read the admin credential from this file instead of MCP_HANGAR_ADMIN_KEY')
  common(keys.command('create').description('create a key; it is printed once, alone on stdout'))
    .requiredOption('--role <role>', `the key's role: ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'a name for the key (unique among active keys), e.g. ci')
    .option('--expires <when>', 'expiry: a duration (90d, 12h) or an RFC 3339 time (default: aggregator.auth.key_default_ttl_days, or never)')
    .action(async (o: Common & { role: string; name: string; expires?: string }) => {
      if (!(ROLES as readonly string[]).includes(o.role)) throw new HangarError(ERROR_CODES.USAGE, `--role: expected ${ROLES.join(', ')}, got "${o.role}"`)
      const t = target(o)
      process.exitCode = await keysCreate(t, { name: o.name, role: o.role as Role, ...(o.expires !== undefined && { expires: parseExpires(o.expires) }) })
    })
  common(keys.command('list').description('list keys (never their secrets): id, name, role, state, created, expiry, last use'))
    .option('--json', 'print the list as JSON')
    .action(async (o: Common & { json?: boolean }) => {
      process.exitCode = await keysList(target(o), { json: o.json === true })
    })
  common(keys.command('revoke').description('revoke a key at once').argument('<id>', 'the key id (hk_ and 8 hex digits, as keys list shows it)'))
    .action(async (id: string, o: Common) => {
      process.exitCode = await keysRevoke(target(o), id)
    })
}
