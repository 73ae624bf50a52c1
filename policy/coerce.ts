/**
 * Numbers and booleans written as strings: `${VAR}` substitution always yields text (the
 * environment has no types), so `port: ${DB_PORT}` must still validate as a number. A string that
 * is a plain decimal integer becomes a number; `true`/`false` become booleans; anything else is
 * left for the schema to reject with its usual message.
 */
import { z, type ZodTypeAny } from 'zod'

/** Wraps a number schema so that `"443"` is accepted as 443. */
export function num<T extends ZodTypeAny>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v), schema)
}

/** Wraps a boolean schema so that `"true"`/`"false"` are accepted. */
export function bool<T extends ZodTypeAny>(schema: T) {
  return z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), schema)
}
