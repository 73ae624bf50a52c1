/**
 * Builds `hangar.signal/v1` objects: ids (UUIDv7, time-ordered), RFC 3339 UTC times with ms,
 * and the fields every signal of a sidecar shares. No decision logic.
 */
import { v7 as uuidv7 } from 'uuid'
import { SIGNAL_SCHEMA, SIGNAL_TYPES, type EnforcementMode, type Signal } from './types.js'

/** Fields shared by every signal of one sidecar. */
export interface SignalOrigin {
  provider: string
  sidecar_id: string
}

/** Everything but the generated fields; `severity` defaults from the catalogue. */
export type SignalInput = Omit<Signal, 'schema' | 'id' | 'time' | 'provider' | 'sidecar_id' | 'severity' | 'enforcement_mode'> &
  Partial<Pick<Signal, 'severity'>> & { enforcement_mode: EnforcementMode }

/** Creates a complete signal. Pure apart from the clock and the random id. */
export function buildSignal(origin: SignalOrigin, input: SignalInput, now: Date = new Date()): Signal {
  const known = (SIGNAL_TYPES as Record<string, { severity: Signal['severity'] } | undefined>)[input.type]
  return {
    schema: SIGNAL_SCHEMA,
    id: uuidv7({ msecs: now.getTime() }),
    time: now.toISOString(),
    provider: origin.provider,
    sidecar_id: origin.sidecar_id,
    ...input,
    severity: input.severity ?? known?.severity ?? 'info',
  }
}
