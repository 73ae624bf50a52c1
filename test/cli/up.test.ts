// cli/up.ts: the summary `up` prints (netns, cooperative, container providers, leftovers cleaned),
// the warning for a world-readable config holding literal secrets (with the controls: 0600, or
// secrets from ${VAR}), and `up --cleanup` on a real kernel: a leftover namespace, veth and
// nftables table named after this config's provider removed, a run still going refused (exit 2),
// and nothing to do reported.
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { formatStackSummary, runUpCleanup, warnReadableSecrets } from '../../cli/up.js'
import { netnsExists, run, setupNetns, teardownNetns } from '../../local/netns.js'
import { planKey, planNetns } from '../../local/plan.js'
import { procStartTime, writeRunState } from '../../local/run-state.js'
import { captureLog } from '../fixtures/aggregator/signals.js'
import { netnsSkip } from '../helpers/netns.js'

t.test('formatStackSummary: netns mode, providers aligned, leftovers first', async (t) => {
  const text = formatStackSummary({
    isolation: { mode: 'netns' } as never,
    aggregatorUrl: 'http://127.0.0.1:8000',
    auditLog: '/d/audit/audit.jsonl',
    cleaned: ['namespace hg-1'],
    providers: [
      { name: 'fetch', mcpUrl: 'http://127.0.0.1:8101/mcp', mode: 'subprocess', netns: 'hg-1', providerIp: '10.254.0.6', sidecarIp: '10.254.0.5', uid: 2046820400 },
      { name: 'db', mcpUrl: 'http://127.0.0.1:8102/mcp', mode: 'container', network: 'hangar-db', container: 'hangar-sidecar-db', sidecarIp: '172.30.0.2' },
      { name: 'remote-one', mcpUrl: 'http://127.0.0.1:8103/mcp', mode: 'remote' },
    ],
  })
  t.strictSame(text.split('\n'), [
    'cleaned up after an earlier run: namespace hg-1',
    'isolation: netns — each subprocess provider runs in its own network namespace (its only reachable host is its sidecar; nftables enforces it), as its own uid, in its own PID and mount namespaces and cgroup',
    'aggregator  http://127.0.0.1:8000  (audit log: /d/audit/audit.jsonl; MCP tools at http://127.0.0.1:8000/mcp)',
    'fetch       http://127.0.0.1:8101/mcp  (subprocess, netns hg-1: provider 10.254.0.6 → sidecar 10.254.0.5, uid 2046820400)',
    "db          http://127.0.0.1:8102/mcp  (container, container on hangar-db (internal): sidecar hangar-sidecar-db at 172.30.0.2, the provider's only host)",
    'remote-one  http://127.0.0.1:8103/mcp  (remote)',
    'ready — Ctrl-C stops everything',
    '',
  ])
})

t.test('formatStackSummary: cooperative mode says so and why', async (t) => {
  const text = formatStackSummary({ isolation: { mode: 'cooperative', why: 'not root' }, aggregatorUrl: 'http://a', auditLog: '/x', providers: [{ name: 'p', mcpUrl: 'http://p', mode: 'subprocess' }] })
  t.match(text, /^isolation: COOPERATIVE — not root\. Providers get HTTP_PROXY\/HTTPS_PROXY only; nothing stops one from going around its sidecar/m)
  t.match(text, /^p {9}http:\/\/p {2}\(subprocess\)$/m, 'names at least 8 wide')
})

t.test('warnReadableSecrets: only a world-readable file with literal secrets is warned about', async (t) => {
  const dir = t.testdir({})
  const secret = join(dir, 'secret.yaml')
  writeFileSync(secret, 'aggregator:\n  admin_tokens: [literal]\nproviders: {}\n')
  const fromEnv = join(dir, 'env.yaml')
  writeFileSync(fromEnv, 'aggregator:\n  admin_tokens: ["${TOKEN}"]\nproviders: {}\n')
  const check = (file: string, mode: number) => {
    chmodSync(file, mode)
    const l = captureLog()
    warnReadableSecrets(file, l.log)
    return l.lines.filter((x) => x.level === 40)
  }
  const warned = check(secret, 0o644)
  t.equal(warned.length, 1)
  t.strictSame(warned[0]!.secrets, ['aggregator.admin_tokens[0]'])
  t.match(String(warned[0]!.msg), /is readable by every user of this machine and holds literal secrets \(aggregator\.admin_tokens\[0\]\): chmod 600 it/)
  t.equal(check(secret, 0o600).length, 0, 'control: not readable by others')
  t.equal(check(fromEnv, 0o644).length, 0, 'control: secrets from the environment')
  const l = captureLog()
  warnReadableSecrets(join(dir, 'missing.yaml'), l.log)
  t.equal(l.lines.length, 0, 'a missing file: nothing, no throw')
})

const skip = netnsSkip()

t.test('up --cleanup: a leftover namespace named after this config is removed', { skip }, async (t) => {
  const dir = t.testdir({})
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:\n  data_dir: ${join(dir, 'data')}\nproviders:\n  tool:\n    command: [node, s.js]\n`)
  const key = planKey(resolve(cfg), 'tool')
  const plan = planNetns({ provider: 'tool', key, taken: new Set() })
  t.teardown(() => teardownNetns(plan))
  setupNetns(plan)
  t.ok(netnsExists(plan.netns), 'a leftover as a crashed run would leave it')
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += String(d)))
  t.equal(await runUpCleanup({ configPath: cfg, log: captureLog().log, out }), 0)
  t.notOk(netnsExists(plan.netns))
  t.throws(() => run('nft', ['list', 'table', 'inet', plan.hostTable]), 'host table gone')
  t.match(text, new RegExp(`^removed: namespace ${plan.netns}, veth ${plan.vethHost}, nftables table ${plan.hostTable}$`, 'm'))
  t.match(text, /cleanup done\n$/)
  const again = new PassThrough()
  let text2 = ''
  again.on('data', (d: Buffer) => (text2 += String(d)))
  t.equal(await runUpCleanup({ configPath: cfg, log: captureLog().log, out: again }), 0)
  t.equal(text2, 'nothing to clean up\n')
})

t.test('up --cleanup refuses while the recorded run is still going (exit 2), leaves its state', async (t) => {
  const dir = t.testdir({})
  const cfg = join(dir, 'hangar.yaml')
  writeFileSync(cfg, `aggregator:\n  data_dir: ${join(dir, 'data')}\nproviders: {}\n`)
  const runDir = join(dir, 'data', 'run')
  mkdirSync(runDir, { recursive: true })
  const alive = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => {
    alive.kill('SIGKILL')
  })
  await new Promise((r) => alive.once('spawn', r))
  writeRunState(runDir, { version: 1, up: { pid: alive.pid!, starttime: procStartTime(alive.pid!)! }, config: cfg, started: new Date().toISOString(), processes: [], providers: [], containers: [] })
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += String(d)))
  t.equal(await runUpCleanup({ configPath: cfg, log: captureLog().log, out }), 2)
  t.equal(text, `mcp-hangar up (pid ${alive.pid}) is still running with this config: stop it (Ctrl-C or kill -TERM ${alive.pid}) instead\n`)
  t.equal(alive.exitCode, null, 'not killed')
  t.ok(existsSync(join(runDir, 'state.json')), 'state kept')
  // control: once that run is gone, the same state is cleaned up
  alive.kill('SIGKILL')
  await new Promise((r) => alive.once('exit', r))
  const out2 = new PassThrough()
  out2.resume()
  t.equal(await runUpCleanup({ configPath: cfg, log: captureLog().log, out: out2 }), 0)
  t.notOk(existsSync(runDir), 'run dir removed')
})
