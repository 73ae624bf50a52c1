// Argument validation against a tool's inputSchema (policy/schema-check.ts; docs/mcp-ingress.md §Refusals → -32602):
// ajv draft 2020-12 by default, draft-07 by `$schema`, lenient about unknown keywords, an invalid
// schema is a result (never a throw), validators compiled once per schema.
import t from 'tap'
import { checkArguments, SchemaChecker, schemaDraft } from '../../policy/schema-check.js'

const fetchSchema = {
  type: 'object',
  properties: {
    url: { type: 'string' },
    method: { enum: ['GET', 'HEAD'] },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    retries: { type: 'integer', minimum: 0 },
    items: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } },
  },
  required: ['url'],
  additionalProperties: false,
}

t.test('schemaDraft picks the dialect from $schema', async (t) => {
  const cases: Array<[unknown, string | undefined]> = [
    [{}, '2020-12'],
    [true, '2020-12'],
    [{ $schema: 'https://json-schema.org/draft/2020-12/schema' }, '2020-12'],
    [{ $schema: 'https://json-schema.org/draft/2020-12/schema#' }, '2020-12'],
    [{ $schema: 'http://json-schema.org/draft-07/schema#' }, 'draft-07'],
    [{ $schema: 'https://json-schema.org/draft-07/schema' }, 'draft-07'],
    [{ $schema: 'http://json-schema.org/draft-04/schema#' }, undefined],
    [{ $schema: 42 }, undefined],
  ]
  for (const [schema, draft] of cases) t.equal(schemaDraft(schema), draft, JSON.stringify(schema))
})

t.test('argument errors name the offending path', async (t) => {
  const cases: Array<{ case: string; args: unknown; errors?: Array<{ path: string; message: string }> }> = [
    { case: 'valid', args: { url: 'https://example.com', method: 'GET', headers: { a: 'b' }, items: [{ name: 'x' }] } },
    { case: 'required', args: {}, errors: [{ path: 'url', message: 'is required' }] },
    { case: 'type', args: { url: 42 }, errors: [{ path: 'url', message: 'must be string' }] },
    { case: 'integer', args: { url: 'u', retries: 1.5 }, errors: [{ path: 'retries', message: 'must be integer' }] },
    { case: 'minimum', args: { url: 'u', retries: -1 }, errors: [{ path: 'retries', message: 'must be >= 0' }] },
    { case: 'enum', args: { url: 'u', method: 'POST' }, errors: [{ path: 'method', message: 'must be one of "GET", "HEAD"' }] },
    { case: 'additionalProperties', args: { url: 'u', extra: 1 }, errors: [{ path: 'extra', message: 'is not allowed (additional property)' }] },
    { case: 'odd key', args: { url: 'u', headers: { 'x-id': 1 } }, errors: [{ path: 'headers["x-id"]', message: 'must be string' }] },
    {
      case: 'inside an array, all errors',
      args: { url: 'u', items: [{ name: 'ok' }, { nom: 'x' }, { name: 3 }] },
      errors: [
        { path: 'items[1].name', message: 'is required' },
        { path: 'items[1].nom', message: 'is not allowed (additional property)' },
        { path: 'items[2].name', message: 'must be string' },
      ],
    },
    { case: 'not an object', args: 'nope', errors: [{ path: '', message: 'must be object' }] },
    { case: 'omitted arguments are {}', args: undefined, errors: [{ path: 'url', message: 'is required' }] },
  ]
  for (const c of cases) {
    const result = checkArguments(fetchSchema, c.args)
    t.strictSame(result, c.errors ? { ok: false, reason: 'invalid_arguments', errors: c.errors } : { ok: true }, c.case)
  }
})

t.test('draft 2020-12 by default, draft-07 by $schema', async (t) => {
  const tuple2020 = { type: 'object', properties: { pair: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }] } } }
  t.strictSame(checkArguments(tuple2020, { pair: [1, 'x'] }), { ok: false, reason: 'invalid_arguments', errors: [{ path: 'pair[1]', message: 'must be number' }] }, '2020-12: prefixItems')
  t.strictSame(checkArguments({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...tuple2020 }, { pair: [1, 2] }), { ok: true }, '2020-12 named explicitly')

  const tuple07 = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { pair: { type: 'array', items: [{ type: 'number' }, { type: 'number' }] } } }
  t.strictSame(checkArguments(tuple07, { pair: [1, 'x'] }), { ok: false, reason: 'invalid_arguments', errors: [{ path: 'pair[1]', message: 'must be number' }] }, 'draft-07: array-form items')
  t.strictSame(checkArguments({ ...tuple07, $schema: 'https://json-schema.org/draft-07/schema' }, { pair: [1, 2] }), { ok: true }, 'draft-07 URI variant')
  // The same array-form items is not valid 2020-12.
  const as2020 = checkArguments({ ...tuple07, $schema: undefined }, { pair: [1, 2] })
  t.match(as2020, { ok: false, reason: 'invalid_schema' }, 'array-form items is an invalid 2020-12 schema')

  // definitions/$ref (draft-07, zod-to-json-schema style) and $defs (2020-12).
  const refs07 = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { p: { $ref: '#/definitions/P' } }, definitions: { P: { type: 'string' } } }
  t.match(checkArguments(refs07, { p: 1 }), { ok: false, errors: [{ path: 'p', message: 'must be string' }] }, 'draft-07 $ref')
  const refs2020 = { type: 'object', properties: { p: { $ref: '#/$defs/P' } }, $defs: { P: { type: 'string' } } }
  t.match(checkArguments(refs2020, { p: 1 }), { ok: false, errors: [{ path: 'p', message: 'must be string' }] }, '2020-12 $ref')
})

t.test('real-world schemas load: unknown keywords, formats, shared $id', async (t) => {
  const lenient = {
    type: 'object',
    'x-vendor': { anything: true },
    properties: { url: { type: 'string', format: 'uri', examples: ['https://x'], deprecated: false, 'x-order': 1 }, when: { type: 'string', format: 'date-time' } },
  }
  t.strictSame(checkArguments(lenient, { url: 'not a uri', when: 'yesterday' }), { ok: true }, 'unknown keywords ignored, formats not enforced')

  const a = { $id: 'https://example.com/tool.json', type: 'object', properties: { a: { type: 'string' } } }
  const b = { $id: 'https://example.com/tool.json', type: 'object', properties: { a: { type: 'number' } } }
  t.strictSame(checkArguments(a, { a: 'x' }), { ok: true })
  t.strictSame(checkArguments(b, { a: 1 }), { ok: true }, 'a second schema with the same $id compiles')
  t.match(checkArguments(b, { a: 'x' }), { ok: false, errors: [{ path: 'a', message: 'must be number' }] })
  t.strictSame(checkArguments(true, { anything: 1 }), { ok: true }, 'boolean schema true')
  t.match(checkArguments(false, {}), { ok: false, reason: 'invalid_arguments' }, 'boolean schema false')
})

t.test('an invalid schema is a result with a clear message, never a throw', async (t) => {
  const cyclic: Record<string, unknown> = { type: 'object' }
  cyclic.properties = { self: cyclic }
  const cases: Array<{ case: string; schema: unknown; message: RegExp }> = [
    { case: 'bad type name', schema: { type: 'strng' }, message: /^inputSchema is invalid: schema is invalid: data\/type/ },
    { case: 'required not an array', schema: { type: 'object', required: 'url' }, message: /^inputSchema is invalid: .*required/ },
    { case: 'unresolvable $ref', schema: { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }, message: /^inputSchema is invalid: .*can't resolve reference/ },
    { case: 'remote $ref (never fetched)', schema: { $ref: 'https://example.com/schema.json' }, message: /^inputSchema is invalid: .*can't resolve reference/ },
    { case: 'bad regex', schema: { type: 'string', pattern: '(' }, message: /^inputSchema is invalid: .*/ },
    { case: 'unsupported draft', schema: { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' }, message: /unsupported \$schema "http:\/\/json-schema.org\/draft-04\/schema#"; supported: / },
    { case: 'null', schema: null, message: /must be a JSON Schema object, got null/ },
    { case: 'array', schema: [], message: /must be a JSON Schema object, got an array/ },
    { case: 'string', schema: 'object', message: /must be a JSON Schema object, got string/ },
    { case: 'undefined', schema: undefined, message: /must be a JSON Schema object, got undefined/ },
    { case: 'cyclic', schema: cyclic, message: /^inputSchema is invalid: / },
  ]
  for (const c of cases) {
    let result
    t.doesNotThrow(() => { result = checkArguments(c.schema, {}) }, `${c.case}: no throw`)
    t.match(result, { ok: false, reason: 'invalid_schema', errors: [{ path: '', message: c.message }] }, c.case)
  }
})

t.test('validators are compiled once per schema', async (t) => {
  const checker = new SchemaChecker()
  const schema = structuredClone(fetchSchema)
  for (let i = 0; i < 5; i++) checker.check(schema, { url: `u${i}` })
  t.equal(checker.compiles, 1, 'same schema object: compiled once')
  checker.check(structuredClone(fetchSchema), {})
  t.equal(checker.compiles, 1, 'an identical schema re-listed as a new object: found by digest')
  checker.check({ ...fetchSchema, required: [] }, {})
  t.equal(checker.compiles, 2, 'a different schema: compiled')
  const bad = { type: 'strng' }
  checker.check(bad, {})
  checker.check(bad, {})
  t.equal(checker.compiles, 3, 'an invalid schema is cached too')

  const small = new SchemaChecker({ digestCacheSize: 2 })
  const s = (n: number) => ({ type: 'object', properties: { [`p${n}`]: { type: 'string' } } })
  for (const n of [1, 2, 3]) small.check(s(n), {})
  small.check(s(3), {})
  t.equal(small.compiles, 3, 'recent schemas stay cached')
  small.check(s(1), {})
  t.equal(small.compiles, 4, 'the digest cache is bounded (least recently used dropped)')
})
