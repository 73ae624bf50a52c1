/**
 * The README's main job, as a user runs it: `npm start` (examples/quickstart/start.mjs:
 * the offline sites, then `mcp-hangar up` on three real npm MCP servers) and `npm run demo`
 * against it; the demo must pass (exit 0), and Ctrl-C must leave no namespace, link or table.
 * Root only (the demo's egress steps need isolation); uses the quickstart's fixed ports.
 */
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { netnsSkip } from '../helpers/netns.js'

const root = new URL('../../', import.meta.url).pathname
const missing = existsSync(join(root, 'dist/mcp-hangar.mjs')) ? undefined : 'dist/mcp-hangar.mjs is missing: run npm run build'
if (missing && process.env.CI) t.fail(missing)
t.setTimeout(240_000)

t.test('npm start, then npm run demo: every expected allow and deny happens; Ctrl-C cleans up', { skip: netnsSkip() || missing || false }, async (t) => {
  rmSync(join(root, 'data/quickstart'), { recursive: true, force: true })
  const start = spawn(process.execPath, ['examples/quickstart/start.mjs'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  start.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  start.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => start.once('exit', (c) => r(c)))
  t.teardown(() => { if (start.exitCode === null) process.kill(-start.pid!, 'SIGKILL') })
  const until = Date.now() + 120_000
  while (!/ready — Ctrl-C/.test(out)) {
    if (start.exitCode !== null || Date.now() > until) throw new Error(`the quickstart did not start:\n${out}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  t.match(out, /isolation: netns/)
  const url = /the operator console: (http:\/\/\S+\/ui\/)/.exec(out)?.[1]
  t.equal(url, 'http://127.0.0.1:8000/ui/', 'npm start prints the console URL')
  const page = await fetch(url!)
  t.equal(page.status, 200, 'and the aggregator serves the console there')
  t.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/, 'with its Content-Security-Policy')
  await page.body?.cancel()
  const demo = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const d = spawn(process.execPath, ['examples/quickstart/demo.mjs'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let o = ''
    d.stdout.on('data', (b: Buffer) => (o += b.toString()))
    d.stderr.on('data', (b: Buffer) => (o += b.toString()))
    d.on('close', (code) => resolve({ code, out: o }))
  })
  t.equal(demo.code, 0, demo.out)
  t.match(demo.out, /demo passed/)
  t.match(demo.out, /✔ fetch http:\/\/example\.com\/: allowed/)
  t.match(demo.out, /✔ the aggregator recorded a dns_denied for evil\.example\.net/)
  process.kill(-start.pid!, 'SIGINT')
  t.equal(await exited, 0, 'Ctrl-C: clean exit')
  // Only this run's names: other tests may have namespaces of their own meanwhile.
  const keys = [...out.matchAll(/netns hg-([0-9a-f]{8})/g)].map((m) => m[1]!)
  t.equal(keys.length, 3, 'three providers, three namespaces')
  const nets = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
  for (const k of keys) {
    t.notMatch(nets, `hg-${k}`, `namespace hg-${k} removed`)
    t.notMatch(links, `hgh${k}`, 'its veth removed')
    t.notMatch(tables, `hangar_${k}`, 'its nftables table removed')
  }
  t.notMatch(links, 'hgqs0', 'the sites link removed')
})
