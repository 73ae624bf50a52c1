/**
 * Runtime deviation detection: the enterprise implementation of `DeviationPort` (core/ports.ts).
 * A sidecar whose `sidecar.deviation.enabled` is true asks it for one detector
 * (enterprise/behavioral/detector.ts) and feeds it the decisions its baseline recorder sees.
 */
import { deviationConfigSchema } from '../../config/deviation-schema.js'
import type { DeviationContext, DeviationDetector, DeviationPort } from '../../core/ports.js'
import { DeviationDetectorImpl } from './detector.js'

export { DeviationDetectorImpl } from './detector.js'

/**
 * The deviation port.
 * `create(ctx)` parses `ctx.config` (`sidecar.deviation`) and starts a detector with its sweep timer.
 * @throws Error naming `sidecar.deviation.<field>` when the config does not parse
 */
export function createDeviation(): DeviationPort {
  return {
    create(ctx: DeviationContext): DeviationDetector {
      const r = deviationConfigSchema.safeParse(ctx.config ?? {})
      if (!r.success) {
        const i = r.error.issues[0]!
        throw new Error(`${['providers', ctx.provider, 'sidecar', 'deviation', ...i.path].join('.')}: ${i.message}`)
      }
      return new DeviationDetectorImpl(ctx, r.data)
    },
  }
}
