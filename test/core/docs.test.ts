/**
 * Docs and code in step (fastify's errors table test): every error code and signal type is
 * documented, and nothing else; the repository stands alone: no file cites a document outside it
 * (the design notes it grew from) or an issue number, and every `docs/<page>.md §<section>` a
 * comment or doc cites names a section that page has.
 */
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AGGREGATOR_API_ERROR_CODES, ERROR_CODES, INGRESS_REJECT_REASONS, JSON_RPC_ERROR_CODES } from '../../core/errors.js'
import { SIGNAL_TYPES } from '../../signals/types.js'

const root = new URL('../../', import.meta.url)
const rootDir = fileURLToPath(root)

t.test('docs/errors.md lists exactly the codes of core/errors.ts', async (t) => {
  const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
  const documented = new Set([...doc.matchAll(/^\| `(HANGAR_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  t.same([...documented].sort(), Object.values(ERROR_CODES).sort())
})

/** The rows of the table under `## heading` in docs/errors.md, as arrays of cells (backquotes removed). */
function tableRows(heading: string): string[][] {
  const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
  const at = doc.indexOf(`\n## ${heading}\n`)
  if (at < 0) return []
  const section = doc.slice(at + heading.length + 5).split(/\n## /)[0]!
  return section.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim().replace(/`/g, '')))
}

t.test('docs/errors.md lists exactly the JSON-RPC error codes, each with its name', async (t) => {
  const rows = tableRows('JSON-RPC error codes')
  t.same(rows.map((r) => [Number(r[0]), r[1]]).sort(), Object.entries(JSON_RPC_ERROR_CODES).map(([name, code]) => [code, name]).sort())
})

t.test('docs/errors.md lists exactly the MCP ingress refusal reasons, each with its statuses', async (t) => {
  const rows = tableRows('MCP ingress refusal reasons')
  t.same(rows.map((r) => [r[0], r[1]!.split(/,\s*/).map(Number)]).sort(), Object.entries(INGRESS_REJECT_REASONS).map(([k, v]) => [k, [...v]]).sort())
})

t.test('docs/errors.md lists exactly the aggregator API error codes, each with its status', async (t) => {
  const rows = tableRows('Aggregator API error codes')
  t.same(rows.map((r) => [r[0], Number(r[1])]).sort(), Object.entries(AGGREGATOR_API_ERROR_CODES).sort())
})

t.test('every code of core/errors.ts carries its own TSDoc comment', async (t) => {
  const src = readFileSync(new URL('core/errors.ts', root), 'utf8')
  const keys = [...Object.keys(ERROR_CODES), ...Object.keys(JSON_RPC_ERROR_CODES), ...Object.keys(INGRESS_REJECT_REASONS), ...Object.keys(AGGREGATOR_API_ERROR_CODES)]
  const undocumented = keys.filter((k) => !new RegExp(`\\*/\\n  ${k}: `).test(src))
  t.same(undocumented, [], 'no code without a comment right above it')
})

t.test('docs/signals.md lists every signal type with its catalogue severity', async (t) => {
  const doc = readFileSync(new URL('docs/signals.md', root), 'utf8')
  for (const [type, def] of Object.entries(SIGNAL_TYPES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\` |`))
    t.ok(row, `${type} documented`)
    t.match(row ?? '', ` ${def.severity}`, `${type} severity ${def.severity}`)
  }
})

/** Folders never scanned: dependencies, build output, run data, VCS and tool state. */
const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', '.git', '.tap', 'coverage'])
/** Files scanned: source, scripts, docs, configs and templates. */
const SCANNED = /\.(?:ts|mts|cts|mjs|cjs|js|md|ya?ml|sh|tmpl|c|h|conf)$|^Dockerfile/

/** Every scanned file under `dir`, as paths relative to it (`/`-separated). */
function scannedFiles(dir: string, rel = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...scannedFiles(dir, path))
    } else if (e.isFile() && SCANNED.test(e.name)) out.push(path)
  }
  return out
}

/** A citation of something outside the repository: the design notes' file, or an issue number. */
const OUTSIDE_CITATION = new RegExp(['DESIGN\\.md', '\\bDESIGN §', '\\bissues? #?\\d'].join('|'), 'i')

/**
 * Finds citations the repository cannot resolve by itself in every scanned file under `dir`
 * (recursively, skipping {@link SKIP_DIRS}). Returns `file:line: text`, sorted.
 */
function findOutsideCitations(dir: string): string[] {
  const hits: string[] = []
  for (const file of scannedFiles(dir)) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n')
    lines.forEach((line, i) => {
      // A citation may be cut by a line break inside a comment: "(… a later issue\n * 7)".
      const next = (lines[i + 1] ?? '').replace(/^\s*(?:\*|\/\/|#)?\s*/, '')
      if (OUTSIDE_CITATION.test(line) || (/\b(?:issues?|DESIGN)$/i.test(line.trimEnd()) && OUTSIDE_CITATION.test(`${line.trimEnd().split(/\s/).pop()}${/^\.md/.test(next) ? '' : ' '}${next}`))) {
        hits.push(`${file}:${i + 1}: ${line.trim()}`)
      }
    })
  }
  return hits.sort()
}

/** `docs/<page>.md §<text>`: a section citation. */
const SECTION_CITATION = /\bdocs\/([\w.-]+\.md) §([^\n]+)/g

/**
 * Finds `docs/<page>.md §<section>` citations under `dir` whose page is missing, or whose page has
 * no heading that the text after `§` starts with (followed by a non-word character or the end).
 * Returns `file:line: docs/<page>.md §<text>`, sorted.
 */
function findBrokenSectionCitations(dir: string): string[] {
  const headings = new Map<string, string[] | undefined>()
  const headingsOf = (page: string): string[] | undefined => {
    if (!headings.has(page)) {
      let text: string | undefined
      try { text = readFileSync(join(dir, 'docs', page), 'utf8') } catch { text = undefined }
      // A heading counts whole and without a trailing parenthesis: "Delivery (sidecar → aggregator)" is cited as "Delivery".
      headings.set(page, text?.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => l.replace(/^#+ /, '').trim())
        .flatMap((h) => [h, h.replace(/ \([^)]*\)$/, '')]))
    }
    return headings.get(page)
  }
  const broken: string[] = []
  for (const file of scannedFiles(dir)) {
    readFileSync(join(dir, file), 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(SECTION_CITATION)) {
        const page = m[1]!
        const text = m[2]!
        const found = headingsOf(page)?.some((h) => text.startsWith(h) && !/^\w/.test(text.slice(h.length)))
        if (!found) broken.push(`${file}:${i + 1}: docs/${page} §${text.slice(0, 60)}`)
      }
    })
  }
  return broken.sort()
}

/** Top-level folders of the repository: a path in a doc that starts with one of them names a file of ours. */
const TOP = ['core', 'signals', 'policy', 'config', 'egress', 'proxy', 'profiles', 'aggregator', 'sidecar', 'local', 'compose', 'cli', 'security', 'test', 'benchmarks', 'docs', 'examples', 'scripts', 'tools']
const REPO_PATH = new RegExp(`(?<![\\w./<-])((?:${TOP.join('|')})/[\\w./-]*\\w\\.(?:ts|mjs|js|md|ya?ml|sh|json|c))\\b`, 'g')

/**
 * Finds file paths the hand-written docs under `dir` name that do not exist (a file moved or
 * renamed without its docs): every `<top folder>/…/<file>.<ext>` in `docs/*.md` (not the generated
 * `docs/benchmarks/`), `README.md` and `examples/**.md`, outside fenced code blocks (which show
 * commands and their output, with example paths). Returns `file:line: path`, sorted.
 */
function findMissingDocPaths(dir: string): string[] {
  const docs = scannedFiles(dir).filter((f) => f.endsWith('.md') && ((/^docs\/[^/]+\.md$/.test(f)) || f === 'README.md' || f.startsWith('examples/')))
  const missing: string[] = []
  for (const file of docs) {
    let fenced = false
    readFileSync(join(dir, file), 'utf8').split('\n').forEach((line, i) => {
      if (/^\s*```/.test(line)) fenced = !fenced
      if (fenced) return
      for (const m of line.matchAll(REPO_PATH)) {
        if (!existsSync(join(dir, m[1]!))) missing.push(`${file}:${i + 1}: ${m[1]}`)
      }
    })
  }
  return missing.sort()
}

t.test('every file path the docs name exists', async (t) => {
  t.same(findMissingDocPaths(rootDir), [])
})

t.test('the path check fires on a moved file, and passes one that exists', async (t) => {
  const dir = t.testdir({
    policy: { 'egress.ts': '' },
    docs: { 'page.md': 'The decisions are in `policy/egress.ts` and egress/decide.ts.\n\n```\n$ cat egress/example.yaml\n```\n' },
    'README.md': 'See docs/page.md and docs/gone.md.\n',
  })
  t.same(findMissingDocPaths(dir), ['README.md:1: docs/gone.md', 'docs/page.md:1: egress/decide.ts'])
})

t.test('nothing in the repository cites the design notes or an issue number', async (t) => {
  t.same(findOutsideCitations(rootDir), [], 'no design-notes or issue-number citation in source, tests, scripts or docs')
})

t.test('every docs/<page>.md §<section> citation names a section of that page', async (t) => {
  t.same(findBrokenSectionCitations(rootDir), [])
})

t.test('the citation scan fires on a planted citation, and only there', async (t) => {
  const dir = t.testdir()
  // Built from pieces so this file does not cite anything itself.
  const design = ['DESIGN', 'md'].join('.')
  mkdirSync(join(dir, 'policy'), { recursive: true })
  mkdirSync(join(dir, 'node_modules/dep'), { recursive: true })
  mkdirSync(join(dir, 'docs'), { recursive: true })
  writeFileSync(join(dir, 'policy/planted.ts'), `// fine\n/** The decision order (${design} §4). */\nexport const x = 1\n`)
  writeFileSync(join(dir, 'policy/issue.mjs'), `// ${'Issue'} 12 acceptance\n`)
  writeFileSync(join(dir, 'policy/split.ts'), `/**\n * the shipper (a later ${'issue'}\n * 4) is one sink; an issue\n * of timing is not a citation\n */\n`)
  writeFileSync(join(dir, 'docs/page.md'), `# Page\n\nSee ${'issues'} #7 and 8.\n`)
  writeFileSync(join(dir, 'policy/clean.ts'), '/** The decision order (egress.md §Decision order); an issue of timing, RFC 9112 §3.2.2. */\n')
  // Controls: the same text where the scan must not look (dependencies, an unscanned extension).
  writeFileSync(join(dir, 'node_modules/dep/index.js'), `// ${design}\n`)
  writeFileSync(join(dir, 'policy/notes.txt'), `${design}\n`)
  t.same(findOutsideCitations(dir), [
    `docs/page.md:3: See ${'issues'} #7 and 8.`,
    `policy/issue.mjs:1: // ${'Issue'} 12 acceptance`,
    `policy/planted.ts:2: /** The decision order (${design} §4). */`,
    `policy/split.ts:2: * the shipper (a later ${'issue'}`,
  ])
  // With the planted files fixed, the same tree is clean.
  writeFileSync(join(dir, 'policy/planted.ts'), '/** The decision order: quarantine first. */\n')
  writeFileSync(join(dir, 'policy/issue.mjs'), '// the acceptance test\n')
  writeFileSync(join(dir, 'docs/page.md'), '# Page\n')
  writeFileSync(join(dir, 'policy/split.ts'), '/** the shipper is one sink; an issue\n * of timing is not a citation */\n')
  t.same(findOutsideCitations(dir), [])
})

t.test('the section check fires on a missing page or section, and passes a real one', async (t) => {
  // Built from pieces so this file's own lines are not citations the repository scan checks.
  const page = (name: string) => ['docs', name].join('/')
  const dir = t.testdir({
    docs: { 'egress.md': '# Egress\n\n## Decision order\n\n### DNS steering (names)\n' },
    'a.ts': [
      `// ${page('egress.md')} §Decision order, step 4`,
      `// ${page('egress.md')} §DNS steering)`,
      `// ${page('egress.md')} §Decision orders`,
      `// ${page('egress.md')} §Answers`,
      `// ${page('missing.md')} §Decision order`,
    ].join('\n'),
  })
  t.same(findBrokenSectionCitations(dir), [
    `a.ts:3: ${page('egress.md')} §Decision orders`,
    `a.ts:4: ${page('egress.md')} §Answers`,
    `a.ts:5: ${page('missing.md')} §Decision order`,
  ])
})
