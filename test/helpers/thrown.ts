/** Runs `fn` and returns what it threw (undefined when it did not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

/** Awaits `p` and returns what it rejected with (undefined when it resolved). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  return undefined
}
