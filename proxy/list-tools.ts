/** Paging through `tools/list` (MCP "Utilities/Pagination": `nextCursor` until absent). */

/** Most pages read; a provider that keeps returning cursors cannot hold the sidecar forever. */
export const MAX_TOOL_PAGES = 50

/**
 * Every tool of every page. `page(cursor)` returns one tools/list result (`{}` when there is
 * none, which ends the walk).
 * @returns the tools in provider order; at most {@link MAX_TOOL_PAGES} pages
 */
export async function listAllTools(page: (cursor: string | undefined) => Promise<Record<string, unknown>>): Promise<unknown[]> {
  const tools: unknown[] = []
  let cursor: string | undefined
  for (let i = 0; i < MAX_TOOL_PAGES; i++) {
    const r = await page(cursor)
    if (Array.isArray(r.tools)) tools.push(...(r.tools as unknown[]))
    if (typeof r.nextCursor !== 'string') break
    cursor = r.nextCursor
  }
  return tools
}
