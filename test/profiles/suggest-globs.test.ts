/**
 * chooseGlobs and labels (profiles/suggest-globs.ts): deepest-first globbing of one registrable
 * domain's hosts: a parent covering at least `threshold` hosts becomes a glob, deeper parents win,
 * ties go to more hosts then name order, earlier globs under a later one are absorbed, parents
 * the `valid` callback refuses are never globs, and hosts below the threshold stay exact.
 */
import t from 'tap'
import { chooseGlobs, labels } from '../../profiles/suggest-globs.js'

const any = () => true

t.test('labels counts dot-separated labels', async (t) => {
  t.equal(labels('example.com'), 2)
  t.equal(labels('a.b.c.example.com'), 5)
  t.equal(labels('localhost'), 1)
})

t.test('below the threshold everything stays exact; at it the parent becomes a glob', async (t) => {
  const hosts = ['a.cdn.example.com', 'b.cdn.example.com']
  t.same(chooseGlobs('example.com', hosts, 3, any), { globs: [], exact: hosts })
  t.same(chooseGlobs('example.com', [...hosts, 'c.cdn.example.com'], 3, any), { globs: [{ parent: 'cdn.example.com', hosts: ['a.cdn.example.com', 'b.cdn.example.com', 'c.cdn.example.com'] }], exact: [] })
})

t.test('the deepest qualifying parent wins; remaining hosts can still form a shallower glob that absorbs it', async (t) => {
  const hosts = ['a.img.cdn.example.com', 'b.img.cdn.example.com', 'x.cdn.example.com', 'api.example.com']
  const r = chooseGlobs('example.com', hosts, 2, any)
  t.same(r.globs.map((g) => g.parent), ['example.com'], 'img.cdn (2) first, then cdn … then example.com absorbs all')
  t.same(r.globs[0]!.hosts, [...hosts].sort())
  t.same(r.exact, [])
  const r3 = chooseGlobs('example.com', hosts, 3, any)
  t.same(r3.globs, [{ parent: 'cdn.example.com', hosts: ['a.img.cdn.example.com', 'b.img.cdn.example.com', 'x.cdn.example.com'] }], 'threshold 3: cdn covers three, img.cdn only two')
  t.same(r3.exact, ['api.example.com'])
})

t.test('an absorbed deeper glob keeps its hosts in the shallower one; absorption needs the threshold among the remaining hosts', async (t) => {
  const hosts = ['a.img.example.com', 'b.img.example.com', 'c.example.com', 'd.example.com']
  t.same(chooseGlobs('example.com', hosts, 2, any), { globs: [{ parent: 'example.com', hosts }], exact: [] })
  const one = chooseGlobs('example.com', hosts.slice(0, 3), 2, any)
  t.same(one, { globs: [{ parent: 'img.example.com', hosts: ['a.img.example.com', 'b.img.example.com'] }], exact: ['c.example.com'] }, 'control: one host left is below the threshold, so img stays its own glob')
})

t.test('valid() vetoes a parent: its hosts stay exact or go to a valid ancestor', async (t) => {
  const hosts = ['a.cdn.example.com', 'b.cdn.example.com', 'c.cdn.example.com']
  const noCdn = (p: string) => p !== 'cdn.example.com'
  const r = chooseGlobs('example.com', hosts, 3, noCdn)
  t.same(r.globs, [{ parent: 'example.com', hosts }], 'the registrable domain instead')
  const none = chooseGlobs('example.com', hosts, 3, () => false)
  t.same(none, { globs: [], exact: hosts })
})

t.test('ties: more hosts first, then the name that sorts first; parents never go above the domain', async (t) => {
  const hosts = ['a.x.example.com', 'b.x.example.com', 'a.y.example.com', 'b.y.example.com', 'c.y.example.com']
  const r = chooseGlobs('example.com', hosts, 2, any)
  t.same(r.globs.map((g) => g.parent), ['y.example.com', 'x.example.com'], 'same depth: y (3 hosts) before x (2); nothing left for example.com')
  const seen: string[] = []
  chooseGlobs('example.com', hosts, 99, (p) => (seen.push(p), true))
  t.same(seen, [], 'nothing reaches the threshold: valid() is not consulted')
  const asked: string[] = []
  chooseGlobs('example.com', ['a.x.example.com', 'b.x.example.com', 'a.y.example.com', 'b.y.example.com'], 2, (p) => (asked.push(p), p !== 'example.com'))
  t.ok(asked.every((p) => p.endsWith('example.com')), 'only the domain and its subdomains are candidates')
  t.notOk(asked.includes('com'), 'the public suffix is never a candidate')
  const tie = chooseGlobs('example.com', ['a.x.example.com', 'b.x.example.com', 'a.y.example.com', 'b.y.example.com'], 2, (p) => p !== 'example.com')
  t.same(tie.globs.map((g) => g.parent), ['x.example.com', 'y.example.com'], 'equal depth and count: name order, and both are taken')
})

t.test('hosts equal to the domain or outside it are never globbed', async (t) => {
  const r = chooseGlobs('example.com', ['example.com', 'a.example.com', 'other.net'], 1, any)
  t.same(r.globs, [{ parent: 'example.com', hosts: ['a.example.com'] }])
  t.same(r.exact, ['example.com', 'other.net'])
})
