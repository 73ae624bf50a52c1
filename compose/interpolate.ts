/**
 * Compose variable substitution, as far as a check before `up` can know it. Compose replaces
 * `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}` and `${VAR?err}` in every
 * string value of a service (not in mapping keys) from the shell and the project's `.env` when it
 * runs, and reads `$$` as a literal `$` (Compose specification, "Interpolation"; docker-compose
 * v1 compose/config/interpolation.py). The values those variables will have are unknown when
 * `compose inject` runs, so a setting that decides isolation must be written without them.
 */

/**
 * The value Compose will use for `s` when `s` holds no variable (`$$` read as `$`), or undefined
 * when it refers to a variable (or has a lone `$`, which Compose rejects).
 */
export function literal(s: string): string | undefined {
  let variable = false
  const out = s.replace(/\$\$|\$/g, (m) => {
    if (m === '$$') return '$'
    variable = true
    return m
  })
  return variable ? undefined : out
}
