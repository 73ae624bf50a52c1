/**
 * `sidecar.deviation`: runtime deviation detection against the provider's behavioral baseline
 * (docs/deviation.md), an enterprise module. Strict: an unknown key is a load error naming its path.
 */
import { z } from 'zod'
import { bool, num } from '../policy/coerce.js'

/** The deviation classes (signal `details.class`). */
export const DEVIATION_CLASSES = ['new_destination', 'new_dns_name', 'new_tool', 'new_argument_keys', 'call_rate', 'byte_rate', 'dns_shape', 'off_hours'] as const
export type DeviationClass = (typeof DEVIATION_CLASSES)[number]

export const deviationConfigSchema = z
  .object({
    /** Detect deviations (needs `sidecar.baseline.enabled`). Default false. */
    enabled: bool(z.boolean()).default(false),
    /** Events the baseline must hold before it is compared against. Default 10. */
    min_observations: num(z.number().int().min(1).max(100_000_000)).default(10),
    /** How long the baseline learns before it is compared against, ms. Default 259200000 (72 h). */
    learning_window_ms: num(z.number().int().min(0).max(31_536_000_000)).default(72 * 3600 * 1000),
    /** A rate anomaly: calls (or bytes) per minute above the learned p95 × this. Default 3. */
    rate_factor: num(z.number().min(1).max(1000)).default(3),
    /** Minimum repeats of a class's key inside its cooldown before a roll-up signal, ms per class. Default 600000 (10 min). */
    cooldown_ms: num(z.number().int().min(0).max(86_400_000)).default(600_000),
    /** Classes that quarantine the provider in `enforcement_mode: quarantine`. Default new_destination, dns_shape. */
    quarantine_on: z.array(z.enum(DEVIATION_CLASSES)).default(['new_destination', 'dns_shape']),
    /** Classes not checked at all. Default none. */
    disabled: z.array(z.enum(DEVIATION_CLASSES)).default([]),
  })
  .strict()
export type DeviationConfig = z.infer<typeof deviationConfigSchema>
