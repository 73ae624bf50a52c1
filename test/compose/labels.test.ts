// compose/labels.ts: reading Compose labels (map and key=value list, "$$" and PyYAML booleans),
// recognising our labels in any spelling, and the issues a provider's labels can have.
import t from 'tap'
import { GENERATED, LABEL, isEnabled, isGenerated, isOurLabel, labelIssues, readLabels } from '../../compose/labels.js'

t.test('readLabels: map form, values as docker-compose passes them', async (t) => {
  t.strictSame(readLabels({ a: 'x', b: true, c: false, d: 5, e: null, f: '$$HOME' }), { a: 'x', b: 'True', c: 'False', d: '5', e: '', f: '$HOME' })
})

t.test('readLabels: list form split at the first "="', async (t) => {
  t.strictSame(readLabels(['a=x', 'b=c=d', 'flag', 'k$$=v$$', 7]), { a: 'x', b: 'c=d', flag: '', 'k$': 'v$' }, 'non-strings skipped, escapes read')
})

t.test('readLabels: a value holding a variable is kept as written', async (t) => {
  t.strictSame(readLabels({ a: '${X}' }), { a: '${X}' })
  t.strictSame(readLabels(['a=$X']), { a: '$X' })
  t.strictSame(readLabels('nope'), {}, 'neither map nor list')
  t.strictSame(readLabels(undefined), {})
})

t.test('isOurLabel: mcp.hangar in any case, spacing or separator', async (t) => {
  for (const k of ['mcp.hangar.enabled', 'MCP.HANGAR.ENABLED', ' mcp_hangar.x', 'mcp-hangar', 'mcp hangar', 'mcphangar.enabled', 'mcp._-hangar']) t.ok(isOurLabel(k), k)
  for (const k of ['com.mcp.hangar', 'mcp.hanger', 'hangar.mcp', 'x-mcp.hangar.enabled']) t.notOk(isOurLabel(k), k)
})

t.test('labelIssues: correct labels give no issue', async (t) => {
  t.strictSame(labelIssues('svc', { [LABEL.enabled]: 'true', [LABEL.path]: '/mcp/v1', [LABEL.port]: '8080', other: '${X}' }), [])
  t.strictSame(labelIssues('svc', [`${LABEL.enabled}=yes`, `${LABEL.path}=mcp`]), [])
  t.strictSame(labelIssues('svc', undefined), [])
  t.strictSame(labelIssues('svc', null), [])
})

t.test('labelIssues: labels that are not a mapping or list', async (t) => {
  const issues = labelIssues('svc', 'mcp.hangar.enabled=true')
  t.equal(issues.length, 1)
  t.equal(issues[0]!.path, 'services.svc.labels')
  t.match(issues[0]!.message, /mapping or a list/)
})

t.test('labelIssues: a misspelt mcp-hangar key is refused, naming the label and the known ones', async (t) => {
  for (const key of ['mcp.hangar.enable', 'MCP.hangar.enabled', 'mcp_hangar.enabled']) {
    const issues = labelIssues('web', { [key]: 'true' })
    t.equal(issues.length, 1, key)
    t.equal(issues[0]!.path, `services.web.labels.${key}`)
    t.match(issues[0]!.message, /unknown mcp-hangar label \(known: mcp\.hangar\.enabled/)
  }
})

t.test('labelIssues: a variable in our value is refused; in another label it is not', async (t) => {
  const issues = labelIssues('web', { [LABEL.enabled]: '${ON}', [LABEL.profile]: '$P', other: '$X' })
  t.strictSame(issues.map((i) => i.path), [`services.web.labels.${LABEL.enabled}`, `services.web.labels.${LABEL.profile}`])
  t.match(issues[0]!.message, /cannot use variables/)
  t.strictSame(labelIssues('web', { [LABEL.enabled]: '$$ON' }).map((i) => i.path), [`services.web.labels.${LABEL.enabled}`], '"$ON" literal is not a boolean')
})

t.test('labelIssues: a list entry whose key is a variable cannot be checked', async (t) => {
  const issues = labelIssues('web', ['${K}=true', 'plain=1'])
  t.equal(issues.length, 1)
  t.equal(issues[0]!.path, 'services.web.labels')
  t.match(issues[0]!.message, /key is a variable/)
  // control: a map key is not interpolated by Compose
  t.strictSame(labelIssues('web', { '${K}': 'true' }), [])
})

t.test('labelIssues: mcp.hangar.enabled must read as true or false', async (t) => {
  for (const v of ['true', 'TRUE', '1', 'yes', 'on', 'false', '0', 'no', 'off', '', ' true ']) t.strictSame(labelIssues('s', { [LABEL.enabled]: v }), [], JSON.stringify(v))
  for (const v of ['maybe', 'enabled', '2', 'tru']) {
    const issues = labelIssues('s', { [LABEL.enabled]: v })
    t.equal(issues.length, 1, v)
    t.match(issues[0]!.message, /expected "true" or "false"/)
  }
  t.strictSame(labelIssues('s', { [LABEL.enabled]: true }), [], 'a YAML boolean reads as True')
})

t.test('labelIssues: mcp.hangar.path must be a URL path', async (t) => {
  for (const v of ['/mcp', 'mcp', '/a/b;c=1', '/%20x', '/']) t.strictSame(labelIssues('s', { [LABEL.path]: v }), [], v)
  for (const v of ['/mcp?x=1', '/mcp#f', '/a b', 'http://x/mcp"']) {
    const issues = labelIssues('s', { [LABEL.path]: v })
    t.equal(issues.length, 1, v)
    t.match(issues[0]!.message, /expected a URL path/)
  }
})

t.test('isGenerated and isEnabled', async (t) => {
  t.ok(isGenerated({ [GENERATED.generated]: 'true' }))
  t.ok(isGenerated([`${GENERATED.generated}=true`]))
  t.notOk(isGenerated({ [GENERATED.generated]: true }), 'a YAML boolean is "True", not "true"')
  t.notOk(isGenerated({}))
  for (const v of ['true', 'True', '1', 'yes', ' on ']) t.ok(isEnabled({ [LABEL.enabled]: v }), v)
  for (const v of ['false', '', 'no', 'x']) t.notOk(isEnabled({ [LABEL.enabled]: v }), JSON.stringify(v))
  t.notOk(isEnabled({}))
})
