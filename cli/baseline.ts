/**
 * `mcp-hangar baseline show` (docs/baseline.md "Reading a baseline"), and where a provider's
 * baseline (`hangar.baseline/v1`, policy/baseline-schema.ts) is read from for it and for
 * `profile suggest` (cli/profile.ts): {@link loadBaselineSource}.
 *
 * Exit codes: 0 printed; 2 no baseline could be read (`HANGAR_BASELINE_UNAVAILABLE`), it is
 * malformed (`HANGAR_BASELINE_INVALID`), or another usage or config error; each printed as
 * `mcp-hangar: <message>`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import type { Command } from 'commander'
import { request } from 'undici'
import { CONFIG_ENV_PREFIX, getProvider, loadConfig } from '../config/load.js'
import type { HangarConfig } from '../config/schema.js'
import { rawEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { aggregatorUrlOf, DEFAULT_DATA_DIR } from '../local/effective-config.js'
import { formatBaselineTable } from '../profiles/baseline/table.js'
import { parseBaseline, type Baseline } from '../policy/baseline-schema.js'

/** Where the baseline commands write: one call per line, without the newline. */
export interface BaselineCommandIo {
  out(line: string): void
  err(line: string): void
}

const stdio: BaselineCommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}

/** Where to read a baseline from; at most one of `baseline`, `fromAggregator`, `admin`. */
export interface BaselineSourceOptions {
  /** The provider. Required unless `baseline` or `admin` is given (then checked against the document when given). */
  provider?: string
  /** `--baseline FILE`: a `hangar.baseline/v1` JSON file. */
  baseline?: string
  /** `--from-aggregator URL`: `GET URL/v1/providers/<provider>/baseline`. */
  fromAggregator?: string
  /** `--admin URL`: a sidecar admin listener, `GET URL/v1/baseline`. */
  admin?: string
  /** Bearer token for the aggregator or admin listener. Default: the config's first `aggregator.admin_tokens` entry. */
  token?: string
  /** `-c`: hangar.yaml. Default `$MCP_CONFIG`, else `hangar.yaml`. */
  config?: string
  /** Relative paths are resolved from here. Default: the working directory. */
  cwd?: string
  /** For `${VAR}` in the config and `$MCP_CONFIG`. Default: the process environment (core/env.ts `rawEnv`). */
  env?: Readonly<Record<string, string | undefined>>
  /** Connect, header and body timeout of each HTTP request, ms. Default 5000. */
  timeoutMs?: number
}

/** A baseline and where it came from (`--baseline /x/b.json`, `aggregator http://…`, `/data/fetch/baseline.json`). */
export interface LoadedBaseline {
  baseline: Baseline
  source: string
}

/** An HTTP source's answer: the document, or why there is none (`status` when the server answered). */
type HttpResult = { ok: true; value: unknown } | { ok: false; status?: number; why: string }

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: string | { message?: string }; message?: string }
    const m = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message)
    if (typeof m === 'string') return m
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200)
}

/** `GET url` with a bearer token; never throws for network errors. */
async function getJson(url: URL, token: string | undefined, timeoutMs: number): Promise<HttpResult> {
  let status: number
  let text: string
  try {
    const res = await request(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs),
    })
    status = res.statusCode
    text = await res.body.text()
  } catch (e) {
    const err = e as Error & { code?: string }
    return { ok: false, why: `unreachable (${err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT' ? `no answer within ${timeoutMs} ms` : err.message || err.code || String(e)})` }
  }
  if (status !== 200) return { ok: false, status, why: `HTTP ${status}${text ? `: ${errorText(text)}` : ''}` }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    throw new HangarError(ERROR_CODES.BASELINE_INVALID, `${url.href}: the answer is not JSON: ${(e as Error).message}`)
  }
}

function urlUnder(base: string, path: string, option: string): URL {
  try {
    return new URL(path, base.endsWith('/') ? base : `${base}/`)
  } catch {
    throw new HangarError(ERROR_CODES.USAGE, `${option}: "${base}" is not a URL (e.g. http://127.0.0.1:8000)`)
  }
}

/** Parses a document, naming its source in the error. */
function parseFrom(source: string, value: unknown): Baseline {
  try {
    return parseBaseline(value)
  } catch (e) {
    if (e instanceof HangarError) throw new HangarError(e.code, `${source}: ${e.message}`)
    throw e
  }
}

function checkProvider(b: Baseline, provider: string | undefined, source: string): LoadedBaseline {
  if (provider !== undefined && b.provider !== provider) {
    throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `${source} holds the baseline of provider "${b.provider}", not "${provider}"`)
  }
  return { baseline: b, source }
}

function readFile(path: string): Baseline {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `no baseline: ${path}: ${code === 'ENOENT' ? 'not found' : (e as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new HangarError(ERROR_CODES.BASELINE_INVALID, `${path}: not JSON: ${(e as Error).message}`)
  }
  return parseFrom(path, value)
}

function configPathOf(o: BaselineSourceOptions, env: Readonly<Record<string, string | undefined>>): string {
  const p = o.config ?? (env.MCP_CONFIG || undefined) ?? 'hangar.yaml'
  return p.startsWith(CONFIG_ENV_PREFIX) ? p : resolve(o.cwd ?? process.cwd(), p)
}

/** The config, or undefined when it cannot be loaded (only a token was wanted from it). */
function tryConfig(path: string, env: Readonly<Record<string, string | undefined>>): HangarConfig | undefined {
  try {
    return loadConfig(path, env).config
  } catch {
    return undefined
  }
}

/**
 * Where a sidecar keeps the provider's baseline.json: `sidecar.data_dir` relative to the working
 * directory (how `mcp-hangar sidecar` opens it), or to the config's directory; under `mcp-hangar
 * up` the shared default `./data` becomes `./data/<provider>` (local/effective-config.ts).
 */
export function baselineFileCandidates(dataDir: string, provider: string, cwd: string, configDir: string | undefined): string[] {
  const bases = isAbsolute(dataDir) ? [''] : [...new Set([cwd, ...(configDir ? [configDir] : [])])]
  const out: string[] = []
  for (const base of bases) {
    const dirs = dataDir === DEFAULT_DATA_DIR ? [resolve(base, dataDir, provider), resolve(base, dataDir)] : [resolve(base, dataDir)]
    for (const d of dirs) {
      const f = join(d, 'baseline.json')
      if (!out.includes(f)) out.push(f)
    }
  }
  return out
}

/**
 * Reads a provider's baseline, from the first source that applies:
 * 1. `baseline`: the file (`--baseline FILE`);
 * 2. `fromAggregator`: `GET <URL>/v1/providers/<provider>/baseline`;
 * 3. `admin`: a sidecar admin listener, `GET <URL>/v1/baseline`;
 * 4. otherwise the config (`-c`): its aggregator (`aggregatorUrlOf`, when `aggregator` is
 *    configured), and when that is unreachable or answers 404, the sidecar's own file
 *    `<sidecar.data_dir>/baseline.json` (see {@link baselineFileCandidates}).
 * HTTP requests carry `Authorization: Bearer <token>` (`token`, else the config's first
 * `aggregator.admin_tokens` entry) and time out after `timeoutMs`.
 * @throws HangarError `HANGAR_USAGE` (two sources, no provider, a bad URL);
 *   `HANGAR_BASELINE_UNAVAILABLE` naming every source tried and why; `HANGAR_BASELINE_INVALID`
 *   for a document that is not JSON or not `hangar.baseline/v1`; `HANGAR_PROVIDER_UNKNOWN`.
 */
export async function loadBaselineSource(o: BaselineSourceOptions): Promise<LoadedBaseline> {
  const env = o.env ?? rawEnv()
  const cwd = o.cwd ?? process.cwd()
  const timeout = o.timeoutMs ?? 5000
  const given = [o.baseline !== undefined && '--baseline', o.fromAggregator !== undefined && '--from-aggregator', o.admin !== undefined && '--admin'].filter(Boolean)
  if (given.length > 1) throw new HangarError(ERROR_CODES.USAGE, `give one baseline source, not ${given.join(' and ')}`)
  if (o.baseline !== undefined) {
    const path = resolve(cwd, o.baseline)
    return checkProvider(readFile(path), o.provider, path)
  }
  if (o.provider === undefined && o.admin === undefined) {
    throw new HangarError(ERROR_CODES.USAGE, '--provider NAME is required (unless --baseline FILE or --admin URL names the baseline)')
  }
  const configPath = configPathOf(o, env)
  const token = (): string | undefined => o.token ?? tryConfig(configPath, env)?.aggregator?.admin_tokens[0]
  const fromHttp = async (url: URL, what: string): Promise<LoadedBaseline> => {
    const r = await getJson(url, token(), timeout)
    const source = `${what} ${url.href}`
    if (!r.ok) throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `no baseline: ${source}: ${r.why}`)
    return checkProvider(parseFrom(source, r.value), o.provider, source)
  }
  if (o.fromAggregator !== undefined) return fromHttp(urlUnder(o.fromAggregator, `v1/providers/${encodeURIComponent(o.provider!)}/baseline`, '--from-aggregator'), 'aggregator')
  if (o.admin !== undefined) return fromHttp(urlUnder(o.admin, 'v1/baseline', '--admin'), 'sidecar admin')

  const provider = o.provider!
  let config: HangarConfig
  try {
    config = loadConfig(configPath, env).config
  } catch (e) {
    if (!(e instanceof HangarError)) throw e
    throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `no baseline for provider "${provider}": config ${configPath}: ${e.message}; give --baseline FILE, --from-aggregator URL or --admin URL`)
  }
  const p = getProvider(config, provider)
  const tried: string[] = []
  if (config.aggregator) {
    const url = urlUnder(aggregatorUrlOf(config), `v1/providers/${encodeURIComponent(provider)}/baseline`, 'aggregator.url')
    const r = await getJson(url, o.token ?? config.aggregator.admin_tokens[0], timeout)
    const source = `aggregator ${url.href}`
    if (r.ok) return checkProvider(parseFrom(source, r.value), provider, source)
    tried.push(`${source}: ${r.why}`)
    if (r.status !== undefined && r.status !== 404) {
      throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `no baseline for provider "${provider}": ${tried.join('; ')}`)
    }
  } else tried.push(`aggregator: none in ${configPath}`)
  const configDir = configPath.startsWith(CONFIG_ENV_PREFIX) ? undefined : dirname(configPath)
  for (const file of baselineFileCandidates(p.sidecar.data_dir, provider, cwd, configDir)) {
    if (!existsSync(file)) {
      tried.push(`${file}: not found`)
      continue
    }
    const b = readFile(file)
    if (b.provider !== provider) {
      tried.push(`${file}: the baseline of provider "${b.provider}"`)
      continue
    }
    return { baseline: b, source: file }
  }
  throw new HangarError(ERROR_CODES.BASELINE_UNAVAILABLE, `no baseline for provider "${provider}": ${tried.join('; ')}`)
}

/** Options of {@link runBaselineShow}: the source, and `json` to print the document instead of tables. */
export interface BaselineShowOptions extends BaselineSourceOptions {
  json?: boolean
}

/** Prints a HangarError as `mcp-hangar: <message>` and returns 2; rethrows anything else. */
export function failedCommand(e: unknown, io: BaselineCommandIo): number {
  if (e instanceof HangarError) {
    io.err(`mcp-hangar: ${e.message}`)
    return 2
  }
  throw e
}

/**
 * `baseline show`: the baseline as tables (profiles/baseline/table.ts) or, with `json`, the
 * document itself (2-space indented). Writes where it came from to `err`. Never exits the
 * process; returns the exit code (see the file comment).
 */
export async function runBaselineShow(o: BaselineShowOptions, io: BaselineCommandIo = stdio): Promise<number> {
  try {
    const { baseline, source } = await loadBaselineSource(o)
    io.err(`baseline of "${baseline.provider}" from ${source}`)
    io.out(o.json ? JSON.stringify(baseline, null, 2) : formatBaselineTable(baseline).trimEnd())
    return 0
  } catch (e) {
    return failedCommand(e, io)
  }
}

/** Adds the source options every baseline-reading command takes. */
export function baselineSourceOptions(cmd: Command): Command {
  return cmd
    .option('-p, --provider <name>', 'the provider whose baseline to read')
    .option('-c, --config <file>', 'hangar.yaml: its aggregator, admin token and the sidecar data_dir (default: $MCP_CONFIG or ./hangar.yaml)')
    .option('--baseline <file>', 'read a hangar.baseline/v1 JSON file (e.g. <data_dir>/baseline.json)')
    .option('--from-aggregator <url>', 'read GET <url>/v1/providers/<provider>/baseline')
    .option('--admin <url>', "read a sidecar admin listener's GET <url>/v1/baseline")
    .option('--token <token>', 'bearer token for --from-aggregator / --admin / the configured aggregator (default: the first aggregator.admin_tokens entry)')
}

/** Commander's option names → {@link BaselineSourceOptions}. */
export function sourceOptionsOf(o: Record<string, unknown>): BaselineSourceOptions {
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined)
  const out: BaselineSourceOptions = {}
  for (const [k, v] of [['provider', s('provider')], ['config', s('config')], ['baseline', s('baseline')], ['fromAggregator', s('fromAggregator')], ['admin', s('admin')], ['token', s('token')]] as const) {
    if (v !== undefined) out[k] = v
  }
  return out
}

/**
 * Adds `baseline show` to the `mcp-hangar` program (commander 12). The action sets
 * `process.exitCode`; it never calls `process.exit`.
 * @returns the `baseline` command.
 */
export function registerBaselineCommands(program: Command, io: BaselineCommandIo = stdio): Command {
  const baseline = program.command('baseline').description("behavioral baselines: what a provider was seen doing (destinations, DNS names, tools, call rate)")
  baselineSourceOptions(baseline.command('show'))
    .description("print a provider's baseline as tables; from --baseline FILE, --from-aggregator URL, --admin URL, or the config's aggregator, else the sidecar's data_dir")
    .option('--json', 'print the hangar.baseline/v1 document instead of tables')
    .action(async (o: Record<string, unknown>) => {
      process.exitCode = await runBaselineShow({ ...sourceOptionsOf(o), json: o.json === true }, io)
    })
  return baseline
}
