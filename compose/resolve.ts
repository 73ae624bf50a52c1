/**
 * Reads a Compose file the way docker-compose reads it, before anything checks it.
 *
 * docker-compose v1 loads YAML with PyYAML's `safe_load`, a YAML 1.1 loader: `yes`/`on`/`off`
 * are booleans (so `privileged: yes` is `true`), and `<<` merge keys (YAML 1.1 "Merge Key
 * Language-Independent Type", https://yaml.org/type/merge.html) copy the keys of one or more
 * anchored mappings into a mapping, the mapping's own keys winning and, in `<<: [*a, *b]`, earlier
 * sources winning over later ones. Compose v2 reads merge keys the same way. A check that ran on
 * the unmerged text would miss a label or a `privileged: true` that a merge brings in, so
 * {@link parseComposeDocument} returns the document with every alias replaced by a copy of what it
 * names and every merge key expanded into the keys it contributes: the same data Compose sees,
 * with nothing left for a later rewrite to detach (an anchor moved after its alias, a merge that
 * no longer applies). Comments stay where they were.
 *
 * Refused, because the two loaders would disagree or one of them fails: two `<<` keys in one
 * mapping (PyYAML lets the later win, the YAML merge rules the earlier), duplicate keys (PyYAML
 * keeps the last silently), an anchor defined twice (which copy an alias names depends on where
 * it stands), a plain `<<` as a value (PyYAML reads it as a merge key and fails), tags PyYAML's
 * safe loader does not know, several documents, and
 * alias expansion past a bound (the "billion laughs" resource attack).
 */
import type { Document, Node, Pair, Scalar, YAMLMap } from 'yaml'
import { ConfigError, type ConfigIssue } from '../core/errors.js'

type Yaml = typeof import('yaml')

/** Most aliases one file may expand (yaml's `maxAliasCount`); far above what a real Compose file uses. */
export const MAX_ALIAS_COUNT = 1000

/**
 * PyYAML's YAML 1.1 booleans (`yaml.resolver.Resolver`): unlike the yaml package's 1.1 schema,
 * PyYAML does not read a bare `y`/`n` as a boolean.
 */
const PY_TRUE = /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/
const PY_FALSE = /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/

type Tag = { tag: string; default?: unknown; identify?: (v: unknown) => boolean; test?: RegExp }

/**
 * The yaml package's YAML 1.1 tags with PyYAML's boolean spellings, and timestamps always implicit
 * as in PyYAML (another user of the yaml package in the same process may have turned them off on
 * the shared tag): so a string like `2001-01-01` is quoted when written, as PyYAML would read a date.
 */
function pyyamlTags<T extends Tag>(tags: T[]): T[] {
  return tags.map((t) => {
    if (t.tag === 'tag:yaml.org,2002:bool' && t.default) return { ...t, test: t.identify?.(true) ? PY_TRUE : PY_FALSE }
    if (t.tag === 'tag:yaml.org,2002:timestamp') return { ...t, default: true }
    // only a merge key itself is written as a plain <<; the string "<<" is quoted (PyYAML reads a
    // plain << anywhere as a merge key and refuses one that is a value)
    if (t.tag === 'tag:yaml.org,2002:merge') return { ...t, identify: (v: unknown) => typeof v === 'symbol' && v.description === '<<' }
    return t
  })
}

/** yaml parse options that read YAML as docker-compose does (YAML 1.1, merge keys, PyYAML booleans). */
export function composeYamlOptions(): Record<string, unknown> {
  return { version: '1.1', uniqueKeys: true, prettyErrors: true, customTags: pyyamlTags }
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s
}

/**
 * Parses `text` as docker-compose does and returns it with aliases and merge keys expanded (see the
 * file comment). `source` names the file in errors.
 * @throws ConfigError (`HANGAR_CONFIG_INVALID`) for a YAML error, an unknown tag, two merge keys
 *   in one mapping, a merge source that is not a mapping, a non-scalar key, or too many aliases;
 *   each issue's path is the YAML path (`services.x.<<`) or `(yaml)`.
 */
export function parseComposeDocument(Y: Yaml, text: string, source: string): Document {
  const doc = Y.parseDocument(text, composeYamlOptions()) as Document
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({ path: '(yaml)', message: firstLine(e.message) }))
  if (issues.length) throw new ConfigError(source, issues)
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    throw new ConfigError(source, [{ path: '(yaml)', message: firstLine((err as Error).message) }])
  }
  const anchors = new Map<string, Node>()
  Y.visit(doc, {
    Node(_key, n) {
      const name = (n as { anchor?: string }).anchor
      if (!name) return
      if (anchors.has(name)) throw new ConfigError(source, [{ path: '(yaml)', message: `anchor &${name} is defined twice: give each anchor its own name` }])
      anchors.set(name, n)
    },
  })
  const walk = new Flattener(Y, anchors, source)
  try {
    doc.contents = walk.node(doc.contents, '') as typeof doc.contents
  } catch (err) {
    if (err instanceof RangeError) throw new ConfigError(source, [{ path: '(yaml)', message: 'nested too deeply to read' }])
    throw err
  }
  Y.visit(doc, {
    Node(_key, n) {
      delete (n as { anchor?: string }).anchor
    },
  })
  return doc
}

/** A key as a path segment and as the key Compose's dict would hold. */
function keyName(Y: Yaml, key: unknown, path: string, source: string): string {
  if (Y.isScalar(key)) return String((key as Scalar).value)
  if (key === null || typeof key !== 'object') return String(key)
  throw new ConfigError(source, [{ path: path || '(yaml)', message: 'a mapping key must be a plain value (PyYAML cannot read a mapping or list as a key)' }])
}

class Flattener {
  private expanded = 0
  constructor(private readonly Y: Yaml, private readonly anchors: ReadonlyMap<string, Node>, private readonly source: string) {}

  private isMergeKey(key: unknown): boolean {
    if (typeof key === 'symbol') return key.description === '<<'
    if (!this.Y.isScalar(key)) return false
    const s = key as Scalar
    return typeof s.value === 'symbol' ? s.value.description === '<<' : s.value === '<<' && (!s.type || s.type === 'PLAIN')
  }

  private fail(path: string, message: string): never {
    throw new ConfigError(this.source, [{ path: path || '(yaml)', message }])
  }

  /** The node an alias names, copied (so that expanding it twice gives two independent nodes). */
  private deref(n: unknown, path: string): unknown {
    let cur = n
    while (this.Y.isAlias(cur)) {
      if (++this.expanded > MAX_ALIAS_COUNT) this.fail(path, `more than ${MAX_ALIAS_COUNT} aliases to expand`)
      const target = this.anchors.get(cur.source)
      if (!target) this.fail(path, `alias *${cur.source} names no anchor`)
      cur = target.clone()
    }
    return cur
  }

  /** `n` with aliases and merge keys expanded, anchors removed. */
  node(n: unknown, path: string): unknown {
    const cur = this.deref(n, path)
    if (this.Y.isMap(cur)) return this.map(cur as YAMLMap, path)
    if (this.Y.isSeq(cur)) {
      cur.items = cur.items.map((it, i) => this.node(it, `${path}[${i}]`))
      return cur
    }
    const s = cur as Scalar
    if (this.Y.isScalar(cur) && s.value === '<<' && (!s.type || s.type === 'PLAIN')) this.fail(path, 'a plain << is a merge key, which PyYAML refuses as a value; quote it ("<<")')
    return cur
  }

  private map(m: YAMLMap, path: string): YAMLMap {
    const at = (k: string) => (path ? `${path}.${k}` : k)
    const merges = m.items.filter((p) => this.isMergeKey(p.key))
    if (merges.length > 1) this.fail(at('<<'), 'two merge keys (<<) in one mapping: docker-compose lets the later win, the YAML merge rules the earlier; write one, <<: [*first, *second]')
    const own = new Set(m.items.filter((p) => !this.isMergeKey(p.key)).map((p) => keyName(this.Y, p.key, path, this.source)))
    const seen = new Set<string>()
    const out: Pair[] = []
    for (const pair of m.items) {
      if (!this.isMergeKey(pair.key)) {
        const k = keyName(this.Y, pair.key, path, this.source)
        seen.add(k)
        pair.value = this.node(pair.value, at(k)) as Pair['value']
        out.push(pair)
        continue
      }
      const value = this.deref(pair.value, at('<<'))
      const sources = this.Y.isSeq(value) ? value.items.map((it, i) => this.deref(it, `${at('<<')}[${i}]`)) : [value]
      for (const src of sources) {
        if (!this.Y.isMap(src)) this.fail(at('<<'), 'a merge key (<<) takes a mapping or a list of mappings')
        const flat = this.map(src as YAMLMap, at('<<'))
        for (const p of flat.items) {
          const k = keyName(this.Y, p.key, path, this.source)
          if (own.has(k) || seen.has(k)) continue
          seen.add(k)
          out.push(p)
        }
      }
    }
    m.items = out
    return m
  }
}
