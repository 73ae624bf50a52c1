// enterprise/compliance/transport/file.ts: records appended one per line and synced; rotation by
// size to <path>.1 … <path>.<keep_files>, the oldest deleted; an unwritable path is a TransportError.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { FileTransport } from '../../../../enterprise/compliance/transport/file.js'

const rec = (n: number) => ({ seq: n, id: `id-${n}`, text: `{"n":${n},"pad":"${'x'.repeat(90)}"}` })

t.test('appends, rotates by size and keeps keep_files rotated files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sub', 'out.jsonl')
  const f = new FileTransport({ path, rotateBytes: 1024, keepFiles: 2 })
  for (let i = 1; i <= 40; i++) t.same(await f.send([rec(i)]), { rejected: [] })
  await f.close()
  const all = [path, `${path}.1`, `${path}.2`].filter(existsSync).flatMap((p) => readFileSync(p, 'utf8').trim().split('\n'))
  t.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`), 'rotated files')
  t.notOk(existsSync(`${path}.3`), 'no more than keep_files')
  for (const p of [path, `${path}.1`, `${path}.2`]) t.ok(readFileSync(p).length <= 1024, `${p} within rotate_bytes`)
  const ns = all.map((l) => (JSON.parse(l) as { n: number }).n).sort((a, b) => a - b)
  t.equal(ns.at(-1), 40, 'the newest record is kept')
  t.same(ns, Array.from({ length: ns.length }, (_, i) => 41 - ns.length + i), 'the kept records are the newest, contiguous')
  t.ok(ns.length < 40, 'the oldest were rotated out')
})

t.test('a path that cannot be written is a TransportError naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-export-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'afile'), '')
  const f = new FileTransport({ path: join(dir, 'afile', 'out.jsonl'), rotateBytes: 1024, keepFiles: 1 })
  await t.rejects(f.send([rec(1)]), { name: 'TransportError', reason: 'file', message: /afile\/out\.jsonl/ })
})
