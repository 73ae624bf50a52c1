/** `${VAR}` values arrive as text (policy/coerce.ts): decimal numbers and true/false become typed; nothing else does. */
import t from 'tap'
import { z } from 'zod'
import { bool, num } from '../../policy/coerce.js'

t.test('num: decimal strings become numbers; the wrapped schema still judges them', async (t) => {
  const port = num(z.number().int().min(1).max(65535))
  t.equal(port.parse('443'), 443)
  t.equal(port.parse(' 8080 '), 8080, 'surrounding spaces')
  t.equal(port.parse(443), 443, 'a number passes as is')
  t.equal(num(z.number()).parse('-1.5'), -1.5)
  t.notOk(port.safeParse('70000').success, 'out of range after coercion')
  t.notOk(port.safeParse('1.5').success, 'not an integer after coercion')
})

t.test('num: text that is not a plain decimal is left for the schema to reject', async (t) => {
  const n = num(z.number())
  for (const bad of ['0x10', '1e3', '', ' ', '12abc', 'Infinity', 'NaN']) t.notOk(n.safeParse(bad).success, JSON.stringify(bad))
})

t.test('bool: exactly "true" and "false" become booleans', async (t) => {
  const b = bool(z.boolean())
  t.equal(b.parse('true'), true)
  t.equal(b.parse('false'), false)
  t.equal(b.parse(true), true)
  for (const bad of ['TRUE', 'yes', '1', 'on', '']) t.notOk(b.safeParse(bad).success, JSON.stringify(bad))
})
