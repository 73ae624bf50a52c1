// compose/resolve.ts: a Compose file read as docker-compose reads it (YAML 1.1, PyYAML booleans,
// merge keys and aliases expanded), and what the two loaders would disagree on refused.
import t, { type Test } from 'tap'
import * as Y from 'yaml'
import { MAX_ALIAS_COUNT, composeYamlOptions, parseComposeDocument } from '../../compose/resolve.js'
import { ConfigError } from '../../core/errors.js'
import { thrown } from '../helpers/thrown.js'

const js = (text: string) => parseComposeDocument(Y, text, 'c.yml').toJS() as Record<string, unknown>

function refused(t: Test, text: string, path: string, message: RegExp, name: string) {
  const e = thrown(() => parseComposeDocument(Y, text, 'c.yml'))
  t.ok(e instanceof ConfigError, `${name}: ConfigError`)
  const issues = (e as ConfigError).issues ?? []
  t.equal(issues[0]?.path, path, `${name}: path`)
  t.match(issues[0]?.message ?? '', message, `${name}: message`)
  t.match((e as Error).message, /invalid configuration in c\.yml/, `${name}: names the file`)
}

t.test('PyYAML booleans: yes/on/off are booleans, y/n are strings', async (t) => {
  const d = js('a: yes\nb: On\nc: OFF\nd: no\ne: y\nf: n\ng: True\n')
  t.strictSame(d, { a: true, b: true, c: false, d: false, e: 'y', f: 'n', g: true })
})

t.test('composeYamlOptions reads YAML 1.1 with unique keys', async (t) => {
  const o = composeYamlOptions()
  t.equal(o.version, '1.1')
  t.equal(o.uniqueKeys, true)
  t.equal(Y.parse('x: yes', o).x, true)
})

t.test('merge keys are expanded: own keys win, earlier sources win over later', async (t) => {
  const d = js(['a: &a {x: 1, y: 1}', 'b: &b {y: 2, z: 2}', 'c:', '  <<: [*a, *b]', '  x: 0'].join('\n'))
  t.strictSame(d.c, { x: 0, y: 1, z: 2 })
})

t.test('a label or privileged brought in by a merge is in the result, and no alias or anchor is left', async (t) => {
  const text = ['x-base: &base', '  privileged: true', '  labels: {mcp.hangar.enabled: "true"}', 'services:', '  p:', '    <<: *base', '    image: i'].join('\n')
  const doc = parseComposeDocument(Y, text, 'c.yml')
  const s = (doc.toJS() as { services: { p: Record<string, unknown> } }).services.p
  t.equal(s.privileged, true)
  t.strictSame(s.labels, { 'mcp.hangar.enabled': 'true' })
  const out = doc.toString()
  t.notMatch(out, /[&*]base/, 'written text has no anchor or alias')
  t.notMatch(out, /<</, 'nor a merge key')
})

t.test('two aliases of one anchor give independent copies', async (t) => {
  const doc = parseComposeDocument(Y, 'a: &a {x: 1}\nb: *a\nc: *a\n', 'c.yml')
  ;(doc.getIn(['b']) as Y.YAMLMap).set('x', 2)
  t.strictSame(doc.toJS(), { a: { x: 1 }, b: { x: 2 }, c: { x: 1 } })
})

t.test('comments stay', async (t) => {
  t.match(parseComposeDocument(Y, '# top\na: 1 # one\n', 'c.yml').toString(), /# top[\s\S]*# one/)
})

t.test('refused: what PyYAML and the YAML merge rules read differently', async (t) => {
  refused(t, 'a: &a {x: 1}\nb: &b {x: 2}\nc:\n  <<: *a\n  <<: *b\n', 'c.<<', /two merge keys \(<<\) in one mapping/, 'two merge keys')
  refused(t, 'a: 1\na: 2\n', '(yaml)', /unique/, 'duplicate keys')
  refused(t, 'a: &x 1\nb: &x 2\nc: *x\n', '(yaml)', /anchor &x is defined twice/, 'anchor twice')
  refused(t, 'a: <<\n', 'a', /plain << is a merge key/, 'plain << as a value')
  refused(t, 'a: &a 1\nb:\n  <<: *a\n', '(yaml)', /Merge sources must be maps/, 'merge of a scalar')
  refused(t, 'a: !!python/object:os.system x\n', '(yaml)', /tag/i, 'unknown tag')
  refused(t, 'a: 1\n---\nb: 2\n', '(yaml)', /document|Source contains multiple documents/i, 'several documents')
  refused(t, '? [a, b]\n: 1\n', '(yaml)', /mapping key must be a plain value/, 'a sequence as a key')
  refused(t, 'a: *nope\n', '(yaml)', /nope/, 'alias of no anchor')
})

t.test('control: a quoted "<<" is a plain string and stays quoted when written', async (t) => {
  const doc = parseComposeDocument(Y, 'a: "<<"\n', 'c.yml')
  t.strictSame(doc.toJS(), { a: '<<' })
  t.match(doc.toString(), /"<<"|'<<'/)
})

t.test('billion laughs: alias expansion past the bound is refused', async (t) => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 6; i++) lines.push(`${'abcdefg'[i]}: &${'abcdefg'[i]} [${Array(10).fill('*' + 'abcdefg'[i - 1]).join(', ')}]`)
  const e = thrown(() => parseComposeDocument(Y, lines.join('\n'), 'c.yml'))
  t.ok(e instanceof ConfigError)
  t.match((e as ConfigError).issues[0]!.message, /alias/i)
  // control: a handful of aliases well under MAX_ALIAS_COUNT is fine
  t.ok(MAX_ALIAS_COUNT >= 100)
  t.strictSame(js('a: &a [1]\nb: [*a, *a, *a]\n'), { a: [1], b: [[1], [1], [1]] })
})

t.test('a document nested too deeply is refused, not a crash', async (t) => {
  const depth = 20_000
  const e = thrown(() => parseComposeDocument(Y, '['.repeat(depth) + ']'.repeat(depth), 'c.yml'))
  t.ok(e instanceof ConfigError, 'ConfigError')
})
