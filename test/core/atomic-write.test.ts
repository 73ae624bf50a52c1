// The one atomic write (core/atomic-write.ts): a reader racing a writer never sees a partial file
// and a writer SIGKILLed mid-write leaves a complete one (control: an in-place write is caught
// half-written by the same reader); the directory is fsynced after the rename, sync and async;
// the mode is set, kept, or defaulted; errors reach the caller and leave nothing behind.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fsyncDir, fsyncDirSync, writeFileAtomic, writeFileAtomicSync } from '../../core/atomic-write.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const child = fileURLToPath(new URL('../fixtures/core/atomic-writer.ts', import.meta.url))
const A = Buffer.alloc(3 << 20, 'a')
const B = Buffer.alloc(2 << 20, 'b')

/**
 * Starts the writer child on `path`, reads the file as fast as it can for `ms`, then SIGKILLs the
 * child. Returns how many reads were made and how many were neither A nor B.
 */
async function race(t: Test, path: string, how: 'async' | 'sync' | 'naive', ms: number): Promise<{ reads: number; partial: number; final: Buffer }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, path, how], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer never wrote')), 60_000)
    proc.stdout.once('data', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  let reads = 0
  let partial = 0
  const until = Date.now() + ms
  while (Date.now() < until) {
    const got = readFileSync(path)
    reads++
    if (!got.equals(A) && !got.equals(B)) partial++
    // Let the parent's own event loop breathe now and then (teardown timers).
    if (reads % 50 === 0) await new Promise((r) => setImmediate(r))
  }
  proc.kill('SIGKILL')
  await exited
  return { reads, partial, final: readFileSync(path) }
}

for (const how of ['async', 'sync'] as const) {
  t.test(`${how}: a reader racing the writer never sees a partial file, and a SIGKILL mid-write leaves a complete one`, async (t) => {
    const dir = t.testdir()
    const path = join(dir, 'state.json')
    const r = await race(t, path, how, 1500)
    t.ok(r.reads > 20, `the reader read ${r.reads} times`)
    t.equal(r.partial, 0, 'no read saw a partial or mixed file')
    t.ok(r.final.equals(A) || r.final.equals(B), 'after the SIGKILL the file is one complete content')
  })
}

t.test('control: the same reader catches an in-place write half-done', async (t) => {
  const dir = t.testdir()
  const r = await race(t, join(dir, 'state.json'), 'naive', 1500)
  t.ok(r.reads > 20, `the reader read ${r.reads} times`)
  t.ok(r.partial > 0, `${r.partial} of ${r.reads} reads saw a partial file`)
})

/** The atomic-write module with `open` of node:fs/promises and openSync/fsyncSync of node:fs recorded. */
async function spied(t: Test, opts: { failDirSync?: string } = {}) {
  const calls: Array<{ op: string; path: string; content?: string }> = []
  const fail = (op: string) => {
    if (!opts.failDirSync) return
    throw Object.assign(new Error(`${op}: ${opts.failDirSync}`), { code: opts.failDirSync })
  }
  const mod = await t.mockImport<typeof import('../../core/atomic-write.js')>('../../core/atomic-write.js', {
    'node:fs/promises': {
      ...fsp,
      open: async (path: string, flags: string) => {
        const fh = await fsp.open(path, flags)
        calls.push({ op: `open ${flags}`, path })
        return Object.assign(Object.create(Object.getPrototypeOf(fh) as object) as object, fh, {
          sync: async () => {
            calls.push({ op: 'fsync', path })
            fail('fsync')
            return fh.sync()
          },
          close: () => fh.close(),
        })
      },
    },
    'node:fs': {
      ...fs,
      openSync: (path: string, flags: string) => {
        calls.push({ op: `openSync ${flags}`, path })
        return fs.openSync(path, flags)
      },
      fsyncSync: (fd: number) => {
        calls.push({ op: 'fsyncSync', path: String(fd) })
        fail('fsyncSync')
        fs.fsyncSync(fd)
      },
    },
  })
  return { mod, calls }
}

t.test('the directory is fsynced after the rename (async)', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'pins.json')
  const { mod, calls } = await spied(t)
  const seen: string[] = []
  const origPush = calls.push.bind(calls)
  calls.push = (...items) => {
    // What a power loss after this point would keep: the new content is already in place.
    for (const c of items) if (c.op === 'fsync') seen.push(readFileSync(path, 'utf8'))
    return origPush(...items)
  }
  await mod.writeFileAtomic(path, 'v1')
  t.same(calls.map((c) => [c.op, c.path]), [['open r', dir], ['fsync', dir]], 'the containing directory opened read-only and fsynced')
  t.same(seen, ['v1'], 'the fsync of the directory comes after the rename')
  t.equal(readFileSync(path, 'utf8'), 'v1')
})

t.test('the directory is fsynced after the rename (sync)', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'policy.json')
  const { mod, calls } = await spied(t)
  mod.writeFileAtomicSync(path, 'v1')
  t.same(calls.map((c) => c.op), ['openSync r', 'fsyncSync'])
  t.equal(calls[0]!.path, dir, 'the containing directory')
  t.equal(readFileSync(path, 'utf8'), 'v1')
})

t.test('through a symlink, the directory fsynced is the one the rename happened in', async (t) => {
  const dir = t.testdir({ real: {}, links: {} })
  const target = join(dir, 'real', 'state.json')
  writeFileSync(target, 'old')
  const link = join(dir, 'links', 'state.json')
  symlinkSync(target, link)
  const { mod, calls } = await spied(t)
  await mod.writeFileAtomic(link, 'new')
  t.equal(readFileSync(target, 'utf8'), 'new', 'the target replaced')
  t.ok(fs.lstatSync(link).isSymbolicLink(), 'the link kept')
  t.same(calls.map((c) => c.path), [join(dir, 'real'), join(dir, 'real')])
})

t.test('a file system that cannot fsync a directory is accepted; other fsync errors are thrown', async (t) => {
  for (const code of ['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR']) {
    const dir = t.testdir()
    const { mod } = await spied(t, { failDirSync: code })
    await mod.writeFileAtomic(join(dir, 'a'), 'x')
    mod.writeFileAtomicSync(join(dir, 'b'), 'y')
    t.equal(readFileSync(join(dir, 'a'), 'utf8') + readFileSync(join(dir, 'b'), 'utf8'), 'xy', `${code}: written, no error`)
  }
  const dir = t.testdir()
  const { mod } = await spied(t, { failDirSync: 'EIO' })
  await t.rejects(mod.writeFileAtomic(join(dir, 'a'), 'x'), { code: 'EIO' }, 'EIO reaches the caller (async)')
  t.throws(() => mod.writeFileAtomicSync(join(dir, 'b'), 'y'), { code: 'EIO' }, 'EIO reaches the caller (sync)')
})

t.test('fsyncDir and fsyncDirSync on a real directory, and on a missing one', async (t) => {
  const dir = t.testdir()
  await fsyncDir(dir)
  fsyncDirSync(dir)
  await t.rejects(fsyncDir(join(dir, 'missing')), { code: 'ENOENT' })
  t.throws(() => fsyncDirSync(join(dir, 'missing')), { code: 'ENOENT' })
})

t.test('mode: set when given, kept from the replaced file otherwise, umask default for a new file', async (t) => {
  const dir = t.testdir()
  const oldMask = process.umask(0o022)
  t.teardown(() => void process.umask(oldMask))
  const m = (p: string) => statSync(p).mode & 0o777

  await writeFileAtomic(join(dir, 'a'), 'x', { mode: 0o600 })
  writeFileAtomicSync(join(dir, 'b'), 'x', { mode: 0o600 })
  t.equal(m(join(dir, 'a')), 0o600, 'async: new file 0600')
  t.equal(m(join(dir, 'b')), 0o600, 'sync: new file 0600')

  writeFileSync(join(dir, 'c'), 'old')
  chmodSync(join(dir, 'c'), 0o644)
  await writeFileAtomic(join(dir, 'c'), 'new', { mode: 0o600 })
  t.equal(m(join(dir, 'c')), 0o600, 'an explicit mode replaces the old file\'s')

  chmodSync(join(dir, 'a'), 0o640)
  await writeFileAtomic(join(dir, 'a'), 'again')
  writeFileSync(join(dir, 'd'), 'old')
  chmodSync(join(dir, 'd'), 0o640)
  writeFileAtomicSync(join(dir, 'd'), 'again')
  t.equal(m(join(dir, 'a')), 0o640, 'async: without a mode the replaced file\'s is kept')
  t.equal(m(join(dir, 'd')), 0o640, 'sync: without a mode the replaced file\'s is kept')

  await writeFileAtomic(join(dir, 'e'), 'x')
  t.equal(m(join(dir, 'e')), 0o644, 'a new file without a mode: 0666 minus the umask')
})

t.test('errors reach the caller; the target is unchanged and no temporary file is left', async (t) => {
  const dir = t.testdir({ 'keep.json': 'old' })
  await t.rejects(writeFileAtomic(join(dir, 'missing', 'x.json'), 'x'), { code: 'ENOENT' }, 'async: a missing directory')
  t.throws(() => writeFileAtomicSync(join(dir, 'missing', 'x.json'), 'x'), { code: 'ENOENT' }, 'sync: a missing directory')
  mkdirSync(join(dir, 'keep.json.d'))
  // A directory where the file should be: the rename fails after the temporary file was written.
  await t.rejects(writeFileAtomic(join(dir, 'keep.json.d'), 'x'), { code: 'EISDIR' })
  t.throws(() => writeFileAtomicSync(join(dir, 'keep.json.d'), 'x'), { code: 'EISDIR' })
  t.same(readdirSync(dir).sort(), ['keep.json', 'keep.json.d'], 'no temporary file left behind')
  t.equal(readFileSync(join(dir, 'keep.json'), 'utf8'), 'old')
})

t.test('strings are written as UTF-8, buffers as is', async (t) => {
  const dir = t.testdir()
  await writeFileAtomic(join(dir, 's'), 'é\u{1F600}')
  t.same(readFileSync(join(dir, 's')), Buffer.from('é\u{1F600}', 'utf8'))
  writeFileAtomicSync(join(dir, 'b'), Buffer.from([0, 255, 10]))
  t.same(readFileSync(join(dir, 'b')), Buffer.from([0, 255, 10]))
})
