/**
 * Finds secrets written literally in a hangar.yaml (not taken from the environment with
 * `${VAR}`), so `mcp-hangar up` can warn when such a file is readable by other users. Pure.
 */
import { parse } from 'yaml'

/** Environment keys whose values are secrets by name (the MCP SDK and most servers' conventions). */
export const SECRET_ENV_KEY = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY|AUTH)/i

const literal = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && !v.includes('${')

/**
 * The config paths of literal secrets: `aggregator.signal_tokens[i]`, `aggregator.admin_tokens[i]`,
 * `providers.<p>.ingress.auth_tokens[i]`, `providers.<p>.env.<KEY>` for secret-looking keys, and
 * a provider `endpoint` with a password in its URL. Unparseable text gives none (the loader
 * reports it).
 */
export function literalSecrets(text: string): string[] {
  let doc: unknown
  try {
    doc = parse(text, { merge: true })
  } catch {
    return []
  }
  const out: string[] = []
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
  const list = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => literal(x) && out.push(`${path}[${i}]`))
  }
  const root = obj(doc)
  const agg = obj(root.aggregator)
  list(agg.signal_tokens, 'aggregator.signal_tokens')
  list(agg.admin_tokens, 'aggregator.admin_tokens')
  for (const [name, raw] of Object.entries(obj(root.providers))) {
    const p = obj(raw)
    list(obj(p.ingress).auth_tokens, `providers.${name}.ingress.auth_tokens`)
    for (const [k, v] of Object.entries(obj(p.env))) if (SECRET_ENV_KEY.test(k) && literal(v)) out.push(`providers.${name}.env.${k}`)
    if (literal(p.endpoint)) {
      try {
        if (new URL(p.endpoint).password) out.push(`providers.${name}.endpoint`)
      } catch {
        /* not a URL: the loader says so */
      }
    }
  }
  return out
}
