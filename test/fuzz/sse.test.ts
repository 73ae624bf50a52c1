// Quick seeded fuzz profile of SSE parsing (core/http/sse.ts SseReader / formatEvent).
// `npm run fuzz` runs 1,000,000 inputs.
import { sseTarget } from './props/sse.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(sseTarget)
