/**
 * loadTransient / releaseTransient (core/transient-module.ts): a CommonJS module loaded for a
 * one-off job is dropped from the require cache afterwards (only that package's files), and the
 * next load gets a fresh copy.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { sep } from 'node:path'
import { loadTransient, releaseTransient } from '../../core/transient-module.js'

const require = createRequire(import.meta.url)
const cached = (name: string) => Object.keys(require.cache).filter((k) => k.includes(`${sep}node_modules${sep}${name}${sep}`))

t.test('a loaded package is cached until released; release drops only the named packages', async (t) => {
  releaseTransient('yaml', 'tldts')
  t.same(cached('yaml'), [], 'not loaded at the start')
  const y1 = loadTransient<typeof import('yaml')>('yaml')
  t.same(y1.parse('a: 1'), { a: 1 }, 'the module works')
  t.ok(cached('yaml').length > 0, 'its files are in the require cache')
  t.equal(loadTransient<typeof import('yaml')>('yaml'), y1, 'a second load in the same job returns the same copy')
  const tl = loadTransient<{ getDomain(h: string): string | null }>('tldts')
  t.equal(tl.getDomain('a.b.example.co.uk'), 'example.co.uk')
  releaseTransient('yaml')
  t.same(cached('yaml'), [], 'yaml released')
  t.ok(cached('tldts').length > 0, 'tldts untouched')
  const y2 = loadTransient<typeof import('yaml')>('yaml')
  t.not(y2, y1, 'the next load is a fresh copy')
  releaseTransient('yaml', 'tldts')
  t.same([...cached('yaml'), ...cached('tldts')], [])
})

t.test('a name is matched as a whole package directory, not a prefix', async (t) => {
  loadTransient('yaml')
  releaseTransient('yam', 'y')
  t.ok(cached('yaml').length > 0, '"yam" does not release "yaml"')
  releaseTransient('yaml')
  t.same(cached('yaml'), [])
})
