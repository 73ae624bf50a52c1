// The benchmark harness (benchmarks/harness/): the shared command-line options of the suites
// (defaults, --quick defaults, strict parsing: every bad value, unknown option or stray argument
// is an error naming the option), the report writer (markdown page and JSON, folders created,
// nothing written with --no-write), the targets table, the machine section, the quiet summary,
// the temp folder, the kept CPU profile, and the exit status of the main-script tail.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CommanderError } from 'commander'
import t from 'tap'
import { machineInfo, machineSection, packageVersion, toolVersion } from '../../benchmarks/harness/machine.js'
import { isHelp, listOf, nonNegativeInt, oneOf, positive, positiveInt, positiveIntList, type ProgramOutput } from '../../benchmarks/harness/options.js'
import { QuietGuard, quietNote } from '../../benchmarks/harness/quiet.js'
import { mark, resultsPath, targetsTable, writeReport } from '../../benchmarks/harness/report.js'
import { keepProfile, pinRunner, ROOT, stopAndKeepProfile, workspace } from '../../benchmarks/harness/run.js'
import { startServer } from '../../benchmarks/lib/procs.js'
import { options as egressOptions } from '../../benchmarks/lib/egress-options.js'
import { mcpOptions } from '../../benchmarks/lib/mcp-options.js'
import { signalsOptions } from '../../benchmarks/lib/signals-options.js'
import { thrown } from '../helpers/thrown.js'

/** Captures what commander writes (help on out, errors on err). */
function capture(): ProgramOutput & { text: () => { out: string; err: string } } {
  let out = ''
  let err = ''
  return { out: (s) => (out += s), err: (s) => (err += s), text: () => ({ out, err }) }
}

/** Parses egress options and returns the CommanderError thrown, with what commander printed. */
function egressError(argv: string[]): { e: CommanderError; err: string } {
  const io = capture()
  const e = thrown(() => egressOptions(argv, io))
  if (!(e instanceof CommanderError)) throw new Error(`expected a CommanderError for ${argv.join(' ')}, got ${String(e)}`)
  return { e, err: io.text().err }
}

t.test('options: the defaults of a full run', async (t) => {
  const o = egressOptions([], capture())
  t.equal(o.quick, false)
  t.equal(o.runs, 3)
  t.equal(o.durationS, 5)
  t.equal(o.warmupS, 1)
  t.equal(o.bulkReps, 7)
  t.equal(o.bulkBytes, 64 * 2 ** 20, '--bulk-mib 64 in bytes')
  t.equal(o.dnsSeconds, 10)
  t.equal(o.latencySeconds, 5)
  t.equal(o.dnsMaxQps, undefined, 'no dnsperf -Q unless asked')
  t.equal(o.concurrency, 32)
  t.equal(o.out, path.join(ROOT, 'docs', 'benchmarks', 'egress.md'))
  t.same([...o.phases], ['connect', 'throughput', 'dns'])
  t.equal(o.pin, true)
  t.equal(o.logLevel, 'warn')
  t.equal(o.quietCores, 0.05)
  t.equal(o.maxWaitS, 600)
  t.equal(o.retries, 3)
  t.equal(o.cpuProf, false)
  t.equal(o.keepTmp, false)
  t.equal(o.skipOurs, false)
})

t.test('options: --quick shortens what is not given, and a given value wins over it', async (t) => {
  const q = egressOptions(['--quick'], capture())
  t.same([q.quick, q.runs, q.durationS, q.warmupS, q.bulkReps, q.dnsSeconds, q.latencySeconds], [true, 1, 2, 0.5, 5, 3, 2])
  const given = egressOptions(['--quick', '--runs', '4', '--duration=7'], capture())
  t.equal(given.runs, 4)
  t.equal(given.durationS, 7)
  t.equal(given.warmupS, 0.5, 'the rest keeps the --quick default')
})

t.test('options: the report, pinning, phases and the quiet check', async (t) => {
  t.equal(egressOptions(['--no-write'], capture()).out, undefined, '--no-write: no report file')
  t.equal(egressOptions(['--out', '/tmp/x.md'], capture()).out, '/tmp/x.md')
  const o = egressOptions(['--no-pin', '--only', 'dns,connect', '--retries', '0', '--quiet-cores', '0.5', '--max-wait', '2', '--cpu-prof', '--keep-tmp', '--log-level', 'debug'], capture())
  t.equal(o.pin, false)
  t.same([...o.phases].sort(), ['connect', 'dns'])
  t.equal(o.retries, 0, '0 retries is allowed')
  t.equal(o.quietCores, 0.5)
  t.equal(o.maxWaitS, 2)
  t.equal(o.cpuProf, true)
  t.equal(o.keepTmp, true)
  t.equal(o.logLevel, 'debug')
})

t.test('options: a bad value is an error naming the option, and nothing runs', async (t) => {
  for (const [argv, flag] of [
    [['--runs', '0'], '--runs'],
    [['--runs', 'abc'], '--runs'],
    [['--runs', '2.5'], '--runs'],
    [['--duration', '-1'], '--duration'],
    [['--duration', ''], '--duration'],
    [['--quiet-cores', 'NaN'], '--quiet-cores'],
    [['--max-wait', 'Infinity'], '--max-wait'],
    [['--retries', '-1'], '--retries'],
    [['--only', 'connect,bogus'], '--only'],
  ] as const) {
    const { e, err } = egressError([...argv])
    t.equal(e.code, 'commander.invalidArgument', `${argv.join(' ')}: invalid argument`)
    t.equal(e.exitCode, 1)
    t.match(err, flag, `${argv.join(' ')}: the message names ${flag}`)
  }
  t.match(egressError(['--only', 'bogus']).err, 'known: connect, throughput, dns', 'an unknown phase lists the known ones')
})

t.test('options: unknown options and stray arguments are errors', async (t) => {
  const unknown = egressError(['--rnus', '3'])
  t.equal(unknown.e.code, 'commander.unknownOption')
  t.match(unknown.err, '--rnus')
  t.equal(egressError(['extra']).e.code, 'commander.excessArguments')
  t.equal(egressError(['--runs']).e.code, 'commander.optionMissingArgument', 'an option without its value')
})

t.test('options: --help prints every option and is not an error', async (t) => {
  const io = capture()
  const e = thrown(() => egressOptions(['--help'], io))
  t.ok(isHelp(e), 'help: exit status 0')
  t.notOk(isHelp(new CommanderError(1, 'commander.unknownOption', 'x')), 'an error is not help')
  const { out } = io.text()
  t.match(out, 'Usage: npm run bench:egress -- [options]')
  for (const flag of ['--quick', '--runs', '--out', '--no-write', '--no-pin', '--quiet-cores', '--max-wait', '--retries', '--only', '--cpu-prof', '--keep-tmp', '--skip-ours']) {
    t.match(out, flag, `help lists ${flag}`)
  }
})

t.test('options: the MCP proxy suite', async (t) => {
  const d = mcpOptions([], capture())
  t.same([d.runs, d.concurrency, d.durationS, d.warmupS, d.rate, d.rateDurationS], [3, [16, 64], 10, 3, 1000, 20])
  t.same([d.servers, d.layouts, d.upstream, d.answer], [['sdk', 'minimal'], ['shared', 'split'], 'stateful', 'sse'])
  t.equal(d.out, path.join(ROOT, 'docs', 'benchmarks', 'mcp-proxy.md'))
  const q = mcpOptions(['--quick', '--concurrency', '8, 32', '--servers', 'minimal', '--layouts', 'split', '--upstream', 'stateless', '--answer', 'json'], capture())
  t.same([q.runs, q.durationS, q.warmupS, q.rateDurationS], [1, 3, 1, 5])
  t.same([q.concurrency, q.servers, q.layouts, q.upstream, q.answer], [[8, 32], ['minimal'], ['split'], 'stateless', 'json'])
  for (const argv of [['--upstream', 'sometimes'], ['--answer', 'xml'], ['--servers', 'sdk,nope'], ['--concurrency', '16,x'], ['--concurrency', ','], ['--only', 'connect']]) {
    const io = capture()
    const e = thrown(() => mcpOptions(argv, io))
    t.ok(e instanceof CommanderError && e.code === 'commander.invalidArgument', `${argv.join(' ')} is refused`)
    t.match(io.text().err, argv[0]!, `${argv.join(' ')}: the message names the option`)
  }
})

t.test('options: the signals suite', async (t) => {
  const d = signalsOptions([], capture())
  t.same([d.runs, d.durationS, d.warmupS, d.senders, d.batch, d.e2eDurationS, d.e2eRuns], [3, 10, 2, 8, 500, 20, 1])
  t.same(d.e2eLoads, [{ via: 'dns', rate: 1000 }, { via: 'dns', rate: 5000 }, { via: 'connect', rate: 1000 }])
  t.equal(d.nodeFlags, undefined, 'the bin\'s own flags unless overridden')
  const o = signalsOptions(['--batch', '1000', '--e2e-loads', 'connect:7', '--node-flags', '--max-old-space-size=64  --single-threaded'], capture())
  t.equal(o.batch, 1000, 'the largest batch the aggregator takes')
  t.same(o.e2eLoads, [{ via: 'connect', rate: 7 }])
  t.same(o.nodeFlags, ['--max-old-space-size=64', '--single-threaded'])
  for (const [argv, says] of [
    [['--batch', '1001'], 'at most 1000'],
    [['--e2e-loads', 'dns:0'], 'dns:0'],
    [['--e2e-loads', 'http:10'], 'http:10'],
    [['--e2e-loads', 'dns:1.5'], 'dns:1.5'],
  ] as const) {
    const io = capture()
    const e = thrown(() => signalsOptions([...argv], io))
    t.ok(e instanceof CommanderError && e.code === 'commander.invalidArgument', `${argv.join(' ')} is refused`)
    t.match(io.text().err, argv[0], `${argv.join(' ')}: names the option`)
    t.match(io.text().err, says, `${argv.join(' ')}: says why`)
  }
})

t.test('options: the value parsers', async (t) => {
  t.equal(positive('0.25'), 0.25)
  t.equal(positiveInt('12'), 12)
  t.equal(nonNegativeInt('0'), 0)
  t.same(positiveIntList(' 1,2 ,3'), [1, 2, 3])
  t.same(listOf(['a', 'b'] as const)('b, a'), ['b', 'a'])
  t.equal(oneOf(['x', 'y'] as const)('y'), 'y')
  for (const [fn, v] of [
    [positive, '0'], [positive, '1e999'], [positive, ' '], [positiveInt, '1.5'], [positiveInt, '9007199254740993'],
    [nonNegativeInt, '-0.5'], [positiveIntList, ''], [listOf(['a'] as const), 'A'], [oneOf(['x'] as const), 'X'],
  ] as const) {
    const e = thrown(() => (fn as (s: string) => unknown)(v))
    t.ok(e instanceof CommanderError && e.code === 'commander.invalidArgument', `${fn.name || 'parser'}("${v}") throws InvalidArgumentError`)
  }
})

t.test('report: writes the page and the JSON, creating their folders, and says so', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'docs', 'bench', 'x.md')
  const json = path.join(dir, 'results', 'deep', 'x.json')
  const data = { machine: { node: 'v20' }, runs: [1, 2.5], notes: ['a'] }
  const logs: string[] = []
  const written = writeReport({ markdown: '# X\n\n| a |\n', out, json: { path: json, data }, note: ' (so far)' }, (m) => logs.push(m))
  t.same(written, [out, json])
  t.equal(fs.readFileSync(out, 'utf8'), '# X\n\n| a |\n', 'the page as given')
  const text = fs.readFileSync(json, 'utf8')
  t.equal(text, `${JSON.stringify(data, null, 2)}\n`, 'indented JSON ending in a newline')
  t.same(JSON.parse(text), data)
  t.equal(logs.length, 1)
  t.match(logs[0]!, /^wrote .*x\.md and .*x\.json \(so far\)$/)
  // Written again, the files are replaced, not appended to.
  writeReport({ markdown: '# Y\n', out }, () => {})
  t.equal(fs.readFileSync(out, 'utf8'), '# Y\n')
})

t.test('report: --no-write writes nothing, not even the JSON', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const logs: string[] = []
  const written = writeReport({ markdown: '# X\n', out: undefined, json: { path: path.join(dir, 'x.json'), data: {} } }, (m) => logs.push(m))
  t.same(written, [])
  t.same(fs.readdirSync(dir), [])
  t.same(logs, [])
})

t.test('report: print puts the page on stdout between blank lines', async (t) => {
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((s: string | Uint8Array) => (chunks.push(String(s)), true)) as typeof process.stdout.write
  try {
    writeReport({ markdown: '# P\n', out: undefined, print: true }, () => {})
  } finally {
    process.stdout.write = write
  }
  t.same(chunks, ['\n# P\n\n'])
})

t.test('report: the targets table and the results path', async (t) => {
  t.equal(mark(true), '**pass**')
  t.equal(mark(false), '**FAIL**')
  t.equal(mark(undefined), 'not measured')
  t.equal(mark(undefined, 'not judged'), 'not judged')
  t.same(
    targetsTable([
      { target: 'rate', measured: '2×', required: '≥ 1.5×', pass: true },
      { target: 'rss', measured: 'n/a', required: '≤ 60 MB', pass: undefined },
    ]),
    ['| target | measured | required | result |', '|---|---|---|---|', '| rate | 2× | ≥ 1.5× | **pass** |', '| rss | n/a | ≤ 60 MB | not measured |'],
  )
  t.equal(resultsPath('egress'), path.join(ROOT, 'benchmarks', 'results', 'egress.json'))
  t.equal(resultsPath('signals', '2026-11-22T08:37:37.147Z'), path.join(ROOT, 'benchmarks', 'results', 'signals-2026-11-22.json'))
})

t.test('machine: the section every report opens with', async (t) => {
  const mi = machineInfo({ tool: '1.2.3' })
  t.same(Object.keys(mi.versions), ['mcp-hangar commit', 'tool'], 'the commit first, then the tools in order')
  t.match(mi.versions['mcp-hangar commit']!, /^[0-9a-f]{7,}( with uncommitted changes)?$/)
  t.equal(mi.node, process.version)
  t.equal(mi.cores, os.cpus().length)
  t.ok(Number.isFinite(Date.parse(mi.date)))
  const fixed = { ...mi, node: 'v20.0.0', kernel: 'Linux 6.1', cores: 2, cpuModel: 'CPU', memTotalGiB: 8, versions: { 'mcp-hangar commit': 'abc1234', squid: 'Squid 5.7' } }
  t.same(machineSection(fixed, ['- CPU placement: none']), [
    '## Machine',
    '',
    '- Node v20.0.0; Linux 6.1; 2 cores: CPU; 8 GiB RAM',
    '- mcp-hangar commit: abc1234',
    '- squid: Squid 5.7',
    '- CPU placement: none',
    '',
  ])
  t.equal(toolVersion(process.execPath, ['--version']), process.version, 'the first line a tool prints')
  t.equal(toolVersion(process.execPath, ['-e', 'console.error("x\\nVersion 9")'], /^Version/), 'Version 9', 'matched on stderr as well')
  t.equal(toolVersion(process.execPath, ['--version'], /^nothing/), 'unknown')
  t.match(packageVersion('commander'), /^\d+\.\d+\.\d+/)
  t.equal(packageVersion('no-such-package-here'), 'unknown')
})

t.test('quiet: the summary of the accepted measurements and its note', async (t) => {
  const g = new QuietGuard(0.05, 1, 0, () => {})
  const empty = g.summary()
  t.ok(Number.isNaN(empty.foreignMedianCores) && Number.isNaN(empty.foreignMaxCores), 'nothing measured: NaN')
  g.accepted.push(0.03, 0.01, 0.2)
  g.retries = 2
  g.gaveUp = 1
  g.waitedS = 12.4
  g.stealMax = 0.001
  const s = g.summary()
  t.same(s, { thresholdCores: 0.05, foreignMedianCores: 0.03, foreignMaxCores: 0.2, repeated: 2, keptDisturbed: 1, waitedS: 12.4, stealMaxCores: 0.001 })
  t.equal(
    quietNote(s),
    "- Other work on the machine during the accepted measurements (CPU not used by the benchmark's own processes): median 0.030, max 0.200 cores " +
      '(threshold 0.05); 2 measurement(s) repeated, 1 kept although disturbed; 12 s spent waiting for quiet; hypervisor steal up to 0.001 cores.',
  )
})

t.test('quiet: a measurement is repeated while other work runs, and kept once the retries run out', async (t) => {
  const measureOnce = async (g: QuietGuard) => {
    let runs = 0
    const v = await g.measure('spin', async () => {
      runs++
      await new Promise((r) => setTimeout(r, 400))
      return runs
    })
    return { runs, v }
  }
  // Control: with a threshold no machine reaches, the first run is accepted.
  const calm = new QuietGuard(1000, 0.5, 3, () => {})
  t.same(await measureOnce(calm), { runs: 1, v: 1 }, 'accepted at once')
  t.same([calm.retries, calm.gaveUp, calm.accepted.length], [0, 0, 1])
  // Other work: a busy process the guard does not know, so its CPU is foreign.
  const busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })
  t.teardown(() => busy.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 200))
  const logs: string[] = []
  const g = new QuietGuard(0.3, 0.5, 1, (m) => logs.push(m))
  t.same(await measureOnce(g), { runs: 2, v: 2 }, 'run, repeated once (maxRetries 1), the last one kept')
  t.same([g.retries, g.gaveUp, g.accepted.length], [1, 1, 1])
  t.ok(g.accepted[0]! >= 0.3, 'the foreign CPU recorded is above the threshold')
  t.ok(logs.some((l) => l.includes('repeating it')) && logs.some((l) => l.includes('kept after 2 tries')))
})

t.test('workspace: a 0755 temp folder, removed on close unless kept', async (t) => {
  const ws = workspace('harness-test-ws-', false)
  t.equal(fs.statSync(ws.dir).mode & 0o777, 0o755)
  fs.writeFileSync(path.join(ws.dir, 'f'), 'x')
  ws.close()
  t.notOk(fs.existsSync(ws.dir), 'removed with its content')
  ws.close() // idempotent
  const kept = workspace('harness-test-ws-', true)
  t.teardown(() => fs.rmSync(kept.dir, { recursive: true, force: true }))
  const stderr = process.stderr.write.bind(process.stderr)
  process.stderr.write = (() => true) as typeof process.stderr.write
  try {
    kept.close()
  } finally {
    process.stderr.write = stderr
  }
  t.ok(fs.existsSync(kept.dir), 'keepTmp: still there')
})

t.test('keepProfile: copies the profile out of the run\'s folder, or says there is none', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-test-prof-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  t.equal(keepProfile(path.join(dir, 'missing'), 'x'), undefined, 'no folder')
  fs.writeFileSync(path.join(dir, 'other.txt'), 'x')
  t.equal(keepProfile(dir, 'x'), undefined, 'no .cpuprofile')
  fs.writeFileSync(path.join(dir, 'CPU.1.cpuprofile'), '{"nodes":[]}')
  const kept = keepProfile(dir, 'x')
  t.teardown(() => kept && fs.rmSync(kept, { force: true }))
  t.ok(kept?.startsWith(path.join(os.tmpdir(), 'hangar-bench-x-')))
  t.equal(fs.readFileSync(kept!, 'utf8'), '{"nodes":[]}')
})

t.test('stopAndKeepProfile: stops a node --cpu-prof process and keeps the profile it wrote', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-test-stop-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const logs: string[] = []
  const stderr = process.stderr.write.bind(process.stderr)
  const quietly = async <T>(fn: () => Promise<T>): Promise<T> => {
    process.stderr.write = ((s: string) => (logs.push(s), true)) as typeof process.stderr.write
    try {
      return await fn()
    } finally {
      process.stderr.write = stderr
    }
  }
  // Profiled: SIGTERM makes it exit normally, so V8 writes the profile.
  const profDir = path.join(dir, 'prof')
  // Waits until the process printed its line (a fixed sleep was too short for a loaded machine).
  const printed = async (s: { logTail(): string }, line: string) => {
    const end = Date.now() + 20_000
    while (!s.logTail().includes(line) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  }
  const profiled = startServer('profiled', process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '-e', 'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000); console.log("up")'], { logDir: dir })
  await printed(profiled, 'up')
  const kept = await quietly(() => stopAndKeepProfile(profiled, profDir, 'harness-test', 'the test process'))
  t.teardown(() => kept && fs.rmSync(kept, { force: true }))
  t.ok(profiled.exitedYet(), 'stopped')
  t.ok(kept && fs.existsSync(kept), 'the profile is kept outside the run\'s folder')
  t.ok(Array.isArray((JSON.parse(fs.readFileSync(kept!, 'utf8')) as { nodes?: unknown }).nodes), 'a V8 CPU profile')
  t.ok(logs.some((l) => l.includes("kept the test process's profile at")))
  // Control: without --cpu-prof there is nothing to keep, and the log's end is shown instead.
  logs.length = 0
  const plain = startServer('plain', process.execPath, ['-e', 'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000); console.log("plain up")'], { logDir: dir })
  await printed(plain, 'plain up')
  t.equal(await quietly(() => stopAndKeepProfile(plain, path.join(dir, 'none'), 'harness-test', 'the plain process')), undefined)
  t.ok(plain.exitedYet())
  t.ok(logs.some((l) => l.includes("the plain process's log ends") && l.includes('plain up')))
})

t.test('pinRunner: nothing is pinned unless asked', async (t) => {
  const before = fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1]
  t.equal(pinRunner(false), false)
  t.equal(fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1], before, 'the CPU list is unchanged')
})

t.test('runMain: the exit status of a script', async (t) => {
  const register = path.join(ROOT, 'benchmarks', 'register.mjs')
  const run = path.join(ROOT, 'benchmarks', 'harness', 'run.ts')
  const opts = path.join(ROOT, 'benchmarks', 'harness', 'options.ts')
  const script = (body: string) =>
    spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', `import { runMain } from ${JSON.stringify(run)}\nimport { benchProgram, parseProgram } from ${JSON.stringify(opts)}\n${body}`], {
      encoding: 'utf8',
      timeout: 60_000,
    })
  const ok = script('runMain(async () => 3)')
  t.equal(ok.status, 3, "main's status")
  const failed = script('runMain(async () => { throw new Error("boom") })')
  t.equal(failed.status, 1)
  t.match(failed.stderr, /^bench: Error: boom\n\s+at /, 'the error with its stack')
  const bad = script('runMain(async () => { parseProgram(benchProgram("x", "x"), ["--nope"]); return 0 }, { errorExit: 2, prefix: "fuzz" })')
  t.equal(bad.status, 2, 'a bad option: errorExit')
  t.match(bad.stderr, "error: unknown option '--nope'")
  t.notMatch(bad.stderr, 'fuzz:', 'commander said why; not printed twice')
  const help = script('runMain(async () => { parseProgram(benchProgram("x", "x"), ["--help"]); return 5 })')
  t.equal(help.status, 0, '--help: 0')
  t.match(help.stdout, 'Usage: npm run x --')
})
