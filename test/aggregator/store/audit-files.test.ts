// aggregator/store/audit-files.ts: names of the audit log's files, listing rotated files in order,
// state.json read/write (atomic; damage reads as null), torn-tail files that never overwrite.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CURRENT_FILE, STATE_FILE, listRotated, parseRotatedFileName, readState, removeFile, rotatedFileName, saveTornBytes, writeState } from '../../../aggregator/store/audit-files.js'
import { fsyncDir } from '../../../core/atomic-write.js'

t.test('rotated file names: 12-digit base, read back; other names are not rotated files', async (t) => {
  t.equal(rotatedFileName(1), 'audit-000000000001.jsonl')
  t.equal(rotatedFileName(123456789012345), 'audit-123456789012345.jsonl', 'a base wider than 12 digits is not cut')
  for (const n of [1, 42, 999_999_999_999, 123456789012345]) t.equal(parseRotatedFileName(rotatedFileName(n)), n, `round trip ${n}`)
  for (const bad of [CURRENT_FILE, STATE_FILE, 'audit-.jsonl', 'audit-12.jsonl.tmp', 'audit-1234567890123456.jsonl', 'kept-000000000001.jsonl', 'audit-0x1.jsonl', 'xaudit-1.jsonl']) {
    t.equal(parseRotatedFileName(bad), null, bad)
  }
})

t.test('listRotated: only rotated files, lowest base first (numeric, not by name)', async (t) => {
  const dir = t.testdir({
    'audit-1000.jsonl': '',
    [rotatedFileName(5)]: '',
    [rotatedFileName(20)]: '',
    [CURRENT_FILE]: '',
    [STATE_FILE]: '{}',
    'audit.jsonl.torn-5': '',
    'kept-000000000001.jsonl': '',
  })
  t.strictSame(await listRotated(dir), [
    { name: rotatedFileName(5), base: 5 },
    { name: rotatedFileName(20), base: 20 },
    { name: 'audit-1000.jsonl', base: 1000 },
  ])
})

t.test('writeState then readState; the temp file is gone', async (t) => {
  const dir = t.testdir({})
  await writeState(dir, 77)
  t.equal(await readState(dir), 77)
  t.strictSame(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')), { current_base: 77 })
  await writeState(dir, 78)
  t.equal(await readState(dir), 78, 'rewritten')
  t.strictSame(readdirSync(dir), [STATE_FILE], 'no temp file left')
})

t.test('readState: missing or damaged state reads as null', async (t) => {
  const dir = t.testdir({})
  t.equal(await readState(dir), null, 'missing')
  const cases: Array<[string, string]> = [
    ['not json', '{"current_base": 5'],
    ['zero', '{"current_base": 0}'],
    ['negative', '{"current_base": -3}'],
    ['fraction', '{"current_base": 1.5}'],
    ['string', '{"current_base": "5"}'],
    ['unsafe integer', '{"current_base": 9007199254740993}'],
    ['null document', 'null'],
    ['no field', '{}'],
  ]
  for (const [name, text] of cases) {
    writeFileSync(join(dir, STATE_FILE), text)
    t.equal(await readState(dir), null, name)
  }
  writeFileSync(join(dir, STATE_FILE), '{"current_base": 1}')
  t.equal(await readState(dir), 1, 'control: the smallest valid base')
})

t.test('saveTornBytes: a new file per call, never overwriting', async (t) => {
  const dir = t.testdir({})
  const path = join(dir, CURRENT_FILE)
  const a = await saveTornBytes(path, 100, Buffer.from('first'))
  const b = await saveTornBytes(path, 100, Buffer.from('second'))
  const c = await saveTornBytes(path, 200, Buffer.from('third'))
  t.equal(a, `${path}.torn-100`)
  t.equal(b, `${path}.torn-100.1`)
  t.equal(c, `${path}.torn-200`)
  t.equal(readFileSync(a, 'utf8'), 'first', 'the first is kept')
  t.equal(readFileSync(b, 'utf8'), 'second')
})

t.test('saveTornBytes: an error other than EEXIST is thrown', async (t) => {
  await t.rejects(saveTornBytes('/nonexistent-dir-hangar/audit.jsonl', 0, Buffer.from('x')), { code: 'ENOENT' })
})

t.test('removeFile: a missing file is fine, other errors are thrown', async (t) => {
  const dir = t.testdir({ f: 'x', sub: { inner: 'y' } })
  await removeFile(join(dir, 'f'))
  t.strictSame(readdirSync(dir).sort(), ['sub'])
  await t.resolves(removeFile(join(dir, 'f')), 'already gone')
  await t.rejects(removeFile(join(dir, 'sub')), 'a directory is not removed')
})

t.test('fsyncDir: a directory syncs; a missing one throws', async (t) => {
  const dir = t.testdir({})
  await t.resolves(fsyncDir(dir))
  await t.rejects(fsyncDir(join(dir, 'nope')), { code: 'ENOENT' })
})
