// cli/main.ts as the real command (`node --import tsx cli/main.ts`): version and help, the
// sidecar option checks (usage errors are exit 2 with "mcp-hangar: <message>" and start nothing,
// each with a control that gets past the check), $MCP_CONFIG as the default config, an unknown
// command refused, and the status sub-command's exit code.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

t.setTimeout(180_000)
const root = new URL('../../', import.meta.url).pathname

function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += String(d)))
    c.stderr.on('data', (d: Buffer) => (stderr += String(d)))
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
    c.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

t.test('--version and --help', async (t) => {
  const v = await cli(['--version'])
  t.equal(v.code, 0)
  t.equal(v.stdout.trim(), '0.1.0')
  const h = await cli(['--help'])
  t.equal(h.code, 0)
  for (const c of ['egress', 'sidecar', 'aggregator', 'up', 'status', 'profile', 'baseline', 'compose']) t.match(h.stdout, new RegExp(`^  ${c}\\b`, 'm'), `lists ${c}`)
})

t.test('sidecar usage errors are exit 2 before anything starts; controls pass the check', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--sandbox', '/tmp/x.json'], /^mcp-hangar: --sandbox needs --netns$/m],
    [['--isolation', 'vm'], /^mcp-hangar: --isolation: expected netns, container, k8s, cooperative, got "vm"$/m],
    [['--netns', 'hg-XYZ'], /^mcp-hangar: --netns: expected a namespace made by mcp-hangar up \(hg-<8 hex>\), got "hg-XYZ"$/m],
    [['--netns', 'other-ns'], /--netns: expected a namespace made by mcp-hangar up/],
  ]
  const results = await Promise.all(cases.map(([args]) => cli(['sidecar', '-p', 'fetch', '-c', '/nonexistent/hangar.yaml', ...args])))
  results.forEach((r, i) => {
    t.equal(r.code, 2, `${cases[i]![0].join(' ')}: exit 2`)
    t.match(r.stderr, cases[i]![1])
  })
  // controls: valid values get past the option checks and fail later, on the missing config
  const controls = await Promise.all([['--isolation', 'cooperative'], ['--isolation', 'k8s'], ['--netns', 'hg-0123abcd']].map((a) => cli(['sidecar', '-p', 'fetch', '-c', '/nonexistent/hangar.yaml', ...a])))
  for (const r of controls) {
    t.equal(r.code, 2)
    t.match(r.stderr, /^mcp-hangar: .*\/nonexistent\/hangar\.yaml/m, 'refused for the config, not the option')
  }
})

t.test('a missing --provider is a commander error (exit 1) naming the option', async (t) => {
  const r = await cli(['sidecar'])
  t.equal(r.code, 1)
  t.match(r.stderr, /required option '-p, --provider <name>' not specified/)
})

t.test('an unknown command is refused', async (t) => {
  const r = await cli(['fly'])
  t.not(r.code, 0)
  t.match(r.stderr, /unknown command 'fly'/)
})

t.test('$MCP_CONFIG is the default config, -c wins over it', async (t) => {
  const dir = t.testdir({})
  const good = join(dir, 'hangar.yaml')
  writeFileSync(good, 'aggregator:\n  listen: 127.0.0.1:9\nproviders: {}\n')
  const env = await cli(['status'], { MCP_CONFIG: good })
  t.equal(env.code, 1, 'status read the config from $MCP_CONFIG and found no aggregator')
  t.match(env.stderr, /cannot read the aggregator at http:\/\/127\.0\.0\.1:9/)
  const flag = await cli(['status', '-c', join(dir, 'missing.yaml')], { MCP_CONFIG: good })
  t.equal(flag.code, 2, '-c names a missing file: a HangarError')
  t.match(flag.stderr, /^mcp-hangar: .*missing\.yaml/m)
})
