/**
 * The Live violations page: the aggregator's violation signals as they arrive (the SSE stream,
 * resumed with Last-Event-ID after a reconnect), newest first, filtered by provider, type,
 * severity and age, and a detail view of the selected one: rule, reason, destination or tool,
 * caller and trace id.
 */
import { h, type ComponentChild } from 'preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import type { Signal } from './api.js'
import { openSignalStream, type StreamState } from './stream.js'

/** Violations kept in the page, newest first (older ones are dropped from view, not from the audit log). */
const KEEP = 500
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info']
/** The age filter's choices: label → max age in ms (0 = any). */
const AGES: ReadonlyArray<[string, number]> = [['any time', 0], ['last 5 min', 300_000], ['last hour', 3_600_000], ['last 24 h', 86_400_000]]

function destination(s: Signal): string {
  const d = s.destination
  if (!d) return ''
  return `${d.host ?? d.ip ?? ''}${d.port !== undefined ? `:${d.port}` : ''} (${d.protocol})`
}

function Select(props: { id: string; label: string; value: string; options: string[]; onChange(v: string): void }): ComponentChild {
  return h('label', { for: props.id }, props.label,
    h('select', { id: props.id, value: props.value, onChange: (e: Event) => props.onChange((e.target as HTMLSelectElement).value) },
      ...props.options.map((o) => h('option', { value: o }, o || 'all'))))
}

function Detail(props: { s: Signal }): ComponentChild {
  const s = props.s
  const rows: Array<[string, string | undefined]> = [
    ['Time', s.time], ['Provider', s.provider], ['Type', s.type], ['Severity', s.severity], ['Action', s.action],
    ['Enforcement mode', s.enforcement_mode], ['Rule', s.rule], ['Reason', s.reason], ['Destination', destination(s) || undefined],
    ['Tool', s.tool], ['Caller', s.caller], ['Trace id', s.trace_id], ['Sidecar', s.sidecar_id], ['Signal id', s.id],
  ]
  return h('section', { 'aria-labelledby': 'detail-title', id: 'detail' },
    h('h3', { id: 'detail-title' }, 'Violation detail'),
    h('dl', { class: 'detail' }, ...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', { 'data-field': k.toLowerCase() }, v ?? '—')])))
}

/** The Live violations page. */
export function LivePage(): ComponentChild {
  const [signals, setSignals] = useState<Signal[]>([])
  const [state, setState] = useState<StreamState>('connecting')
  const [provider, setProvider] = useState('')
  const [type, setType] = useState('')
  const [severity, setSeverity] = useState('')
  const [age, setAge] = useState('any time')
  const [selected, setSelected] = useState<string | undefined>()
  useEffect(() => openSignalStream({
    filter: { kind: 'violation' },
    onSignal: (s) => setSignals((old) => (old.some((o) => o.id === s.id) ? old : [s, ...old].slice(0, KEEP))),
    onState: (st) => setState(st),
  }), [])
  const providers = useMemo(() => ['', ...new Set(signals.map((s) => s.provider))].sort(), [signals])
  const types = useMemo(() => ['', ...new Set(signals.map((s) => s.type))].sort(), [signals])
  const maxAge = AGES.find(([l]) => l === age)?.[1] ?? 0
  const now = Date.now()
  const shown = signals.filter((s) => (!provider || s.provider === provider) && (!type || s.type === type) && (!severity || s.severity === severity) &&
    (!maxAge || now - Date.parse(s.time) <= maxAge))
  const sel = signals.find((s) => s.id === selected)
  return h('section', { 'aria-labelledby': 'live-title' },
    h('h2', { id: 'live-title' }, 'Live violations'),
    h('p', { id: 'stream-state', role: 'status', 'data-state': state }, `Stream: ${state}`),
    h('div', { class: 'filters' },
      h(Select, { id: 'f-provider', label: 'Provider', value: provider, options: providers, onChange: setProvider }),
      h(Select, { id: 'f-type', label: 'Type', value: type, options: types, onChange: setType }),
      h(Select, { id: 'f-severity', label: 'Severity', value: severity, options: ['', ...SEVERITIES], onChange: setSeverity }),
      h(Select, { id: 'f-age', label: 'Time', value: age, options: AGES.map(([l]) => l), onChange: setAge })),
    h('table', { id: 'violations' },
      h('caption', { class: 'sr-only' }, 'Violations, newest first; select one for its details'),
      h('thead', null, h('tr', null, ...['Time', 'Provider', 'Type', 'Severity', 'Action', 'Destination / tool', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, ...shown.map((s) => h('tr', { 'data-signal': s.id, class: s.id === selected ? 'selected' : '' },
        h('td', null, new Date(s.time).toLocaleTimeString()),
        h('td', null, s.provider),
        h('td', { 'data-col': 'type' }, s.type),
        h('td', { class: s.severity === 'critical' || s.severity === 'high' ? 'bad' : '' }, s.severity),
        h('td', null, s.action),
        h('td', { 'data-col': 'target' }, s.tool ?? destination(s)),
        h('td', null, h('button', { 'aria-label': `Details of ${s.type} at ${s.time}`, 'aria-pressed': s.id === selected, onClick: () => setSelected(s.id) }, 'Details')))))),
    shown.length === 0 && h('p', { class: 'muted' }, 'No violations match.'),
    sel && h(Detail, { s: sel }))
}
