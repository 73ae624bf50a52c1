/**
 * `sidecar.deviation`: runtime deviation detection against the provider's behavioral baseline
 * (docs/deviation.md), an enterprise module. Strict: an unknown key is a load error naming its path.
 */
import { z } from 'zod'
import { bool, num } from '../policy/coerce.js'

/** The deviation classes (signal `details.class`). */
export const DEVIATION_CLASSES = ['new_destination', 'new_dns_name', 'new_tool', 'new_argument_keys', 'call_rate', 'byte_rate', 'dns_shape', 'off_hours'] as const
export type DeviationClass = (typeof DEVIATION_CLASSES)[number]

/** The severity of each class's `behavior_deviation` signal (docs/deviation.md §Classes). */
export const DEVIATION_SEVERITY: Readonly<Record<DeviationClass, 'low' | 'medium' | 'high' | 'critical'>> = Object.freeze({
  new_destination: 'critical',
  new_dns_name: 'high',
  new_tool: 'high',
  new_argument_keys: 'medium',
  call_rate: 'medium',
  byte_rate: 'high',
  dns_shape: 'critical',
  off_hours: 'low',
})

export const deviationConfigSchema = z
  .object({
    /** Detect deviations (needs `sidecar.baseline.enabled`). Default false. */
    enabled: bool(z.boolean()).default(false),
    /** Events the baseline must hold before it is compared against. Default 10. */
    min_observations: num(z.number().int().min(1).max(100_000_000)).default(10),
    /** How long the baseline learns (its `started` to now) before it is compared against, ms. Default 259200000 (72 h). */
    learning_window_ms: num(z.number().int().min(0).max(31_536_000_000)).default(72 * 3600 * 1000),
    /**
     * How often the detector takes a new snapshot of the baseline to compare against, ms (what the
     * provider did since the last snapshot, deviations included, is then part of it). 0: only when
     * the detector starts (sidecar start, quarantine release). Default 86400000 (24 h).
     */
    refresh_interval_ms: num(z.number().int().min(0).max(31_536_000_000)).default(24 * 3600 * 1000),
    /** A rate anomaly: calls (or bytes) per minute above the learned `rate_basis` figure × this (and above the learned maximum). Default 3. */
    rate_factor: num(z.number().min(1).max(1000)).default(3),
    /** The learned per-minute figure `rate_factor` multiplies: `p95` or `median`. Default p95. */
    rate_basis: z.enum(['p95', 'median']).default('p95'),
    /** Minutes with activity the baseline must hold before its call or byte rate is compared against. Default 10. */
    min_active_minutes: num(z.number().int().min(1).max(100_000)).default(10),
    /** A DNS shape anomaly needs at least this many never-seen names under one registrable domain in one minute. Default 10. */
    dns_shape_min_names: num(z.number().int().min(2).max(100_000)).default(10),
    /** After a class's signal for one key (destination, name, tool, …), repeats are counted, not signalled, for this long, ms; a roll-up signal follows. Default 600000 (10 min). */
    cooldown_ms: num(z.number().int().min(0).max(86_400_000)).default(600_000),
    /** Signals per class per `cooldown_ms` for distinct keys; more keys are folded into the class's roll-up. Default 20. */
    max_signals_per_cooldown: num(z.number().int().min(1).max(10_000)).default(20),
    /** Classes that quarantine the provider in `enforcement_mode: quarantine`. Default new_destination, dns_shape. */
    quarantine_on: z.array(z.enum(DEVIATION_CLASSES)).default(['new_destination', 'dns_shape']),
    /** Classes not checked at all. Default none. */
    disabled: z.array(z.enum(DEVIATION_CLASSES)).default([]),
  })
  .strict()
export type DeviationConfig = z.infer<typeof deviationConfigSchema>
