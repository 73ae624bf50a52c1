/** Runs `fn` and returns what it threw (undefined when it did not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}
