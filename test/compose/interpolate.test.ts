// compose/interpolate.ts: the value Compose will use for a string, known only when it holds no
// variable ("$$" is a literal "$"; any other "$" starts a variable or is refused by Compose).
import t from 'tap'
import { literal } from '../../compose/interpolate.js'

t.test('a string without "$" is its own value', async (t) => {
  for (const s of ['', 'true', 'mcp.hangar.enabled', 'a b c', '/mcp', '{}']) t.equal(literal(s), s, JSON.stringify(s))
})

t.test('"$$" is read as a literal "$"', async (t) => {
  t.equal(literal('$$'), '$')
  t.equal(literal('price: $$5'), 'price: $5')
  t.equal(literal('$$$$'), '$$', 'two escapes give two dollars')
  t.equal(literal('a$$b$$c'), 'a$b$c')
})

t.test('every variable form of the Compose specification is not a literal', async (t) => {
  const forms = ['$VAR', '${VAR}', '${VAR:-default}', '${VAR-default}', '${VAR:?err}', '${VAR?err}', 'prefix-${VAR}-suffix', 'x$Y']
  for (const s of forms) t.equal(literal(s), undefined, s)
})

t.test('a lone "$" (which Compose rejects) is not a literal either', async (t) => {
  t.equal(literal('$'), undefined)
  t.equal(literal('cost 5$'), undefined)
})

t.test('an escape beside a variable: the variable decides', async (t) => {
  t.equal(literal('$$$VAR'), undefined, '"$$" then "$VAR"')
  t.equal(literal('$$VAR'), '$VAR', 'control: "$$VAR" is the text $VAR')
  t.equal(literal('$$${VAR}'), undefined)
  t.equal(literal('$${VAR}'), '${VAR}', 'control: escaped brace form is text')
})
