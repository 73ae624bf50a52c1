/**
 * The Providers page: every provider of `GET /v1/providers` with its state, isolation (a warning
 * for `cooperative`: its egress is confined only by its own cooperation with the proxy settings),
 * enforcement mode (from its latest violation), quarantine, last heartbeat and violations; and
 * the quarantine / release actions, each behind a confirmation dialog, disabled for roles below
 * `operator` (the aggregator refuses them all the same).
 */
import { h, type ComponentChild } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, canAct, type Provider, type Role } from './api.js'

/** Refresh period of the list, ms. */
const REFRESH_MS = 2000

function ago(iso: string | undefined): string {
  if (!iso) return 'never'
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : new Date(iso).toLocaleString()
}

function isolationCell(p: Provider): ComponentChild {
  if (!p.isolation) return h('span', { class: 'muted' }, 'unknown')
  if (p.isolation === 'cooperative')
    return h('span', { class: 'warn', title: 'Egress is enforced only while the provider honours its proxy settings' }, '⚠ cooperative')
  return h('span', null, p.isolation)
}

/** A pending action awaiting confirmation. */
interface Pending { provider: string; action: 'quarantine' | 'approve' }

function ConfirmDialog(props: { pending: Pending; onDone(msg: string): void; onCancel(): void }): ComponentChild {
  const ref = useRef<HTMLDialogElement>(null)
  const [reason, setReason] = useState('')
  const [error, setError] = useState('')
  useEffect(() => {
    ref.current?.showModal()
  }, [])
  const { provider, action } = props.pending
  const verb = action === 'quarantine' ? 'Quarantine' : 'Release'
  const confirm = async (): Promise<void> => {
    try {
      await api(`/v1/providers/${encodeURIComponent(provider)}/${action}`, { method: 'POST', body: { reason: reason.trim() || (action === 'quarantine' ? 'quarantined from the console' : 'released from the console') } })
      ref.current?.close()
      props.onDone(`${verb}d ${provider}`)
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    }
  }
  return h('dialog', { ref, 'aria-labelledby': 'confirm-title', onCancel: props.onCancel },
    h('h2', { id: 'confirm-title' }, `${verb} provider ${provider}?`),
    h('p', null, action === 'quarantine'
      ? 'All its egress and tool calls will be refused until it is released.'
      : 'Its egress and tool calls will be allowed again under its profile.'),
    h('label', null, 'Reason ', h('input', { id: 'confirm-reason', value: reason, onInput: (e: Event) => setReason((e.target as HTMLInputElement).value) })),
    error && h('p', { class: 'error', role: 'alert' }, error),
    h('p', null,
      h('button', { id: 'confirm-ok', class: action === 'quarantine' ? 'danger' : '', onClick: () => void confirm() }, verb),
      ' ',
      h('button', { id: 'confirm-cancel', onClick: () => { ref.current?.close(); props.onCancel() } }, 'Cancel')))
}

/** The Providers page. */
export function ProvidersPage(props: { role: Role | undefined }): ComponentChild {
  const [providers, setProviders] = useState<Provider[] | undefined>()
  const [error, setError] = useState('')
  const [pending, setPending] = useState<Pending | undefined>()
  const [notice, setNotice] = useState('')
  const load = useCallback(async () => {
    try {
      setProviders((await api<{ providers: Provider[] }>('/v1/providers')).providers)
      setError('')
    } catch (e) {
      setError(e instanceof ApiError ? `${e.status}: ${e.message}` : String(e))
    }
  }, [])
  useEffect(() => {
    void load()
    const t = setInterval(() => void load(), REFRESH_MS)
    return () => clearInterval(t)
  }, [load])
  const mayAct = canAct(props.role, 'operator')
  const why = mayAct ? undefined : `Needs role operator; you hold ${props.role ?? 'no role'}`
  return h('section', { 'aria-labelledby': 'providers-title' },
    h('h2', { id: 'providers-title' }, 'Providers'),
    error && h('p', { class: 'error', role: 'alert' }, error),
    h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' }, notice),
    notice && h('p', { class: 'okc', 'aria-hidden': 'true' }, notice),
    !providers ? h('p', null, 'Loading…') : h('table', { id: 'providers' },
      h('caption', { class: 'sr-only' }, 'Providers, their confinement and violations'),
      h('thead', null, h('tr', null, ...['Name', 'State', 'Isolation', 'Enforcement', 'Quarantine', 'Last heartbeat', 'Violations', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, ...providers.map((p) => h('tr', { 'data-provider': p.name },
        h('th', { scope: 'row' }, p.name),
        h('td', { class: p.state === 'ready' ? 'okc' : 'bad', 'data-col': 'state' }, p.state),
        h('td', { 'data-col': 'isolation' }, isolationCell(p)),
        h('td', { 'data-col': 'enforcement' }, p.last_violation?.enforcement_mode ?? h('span', { class: 'muted' }, '—')),
        h('td', { 'data-col': 'quarantine' }, p.quarantined ? h('span', { class: 'bad', title: p.quarantine_reason }, 'quarantined') : 'no'),
        h('td', { 'data-col': 'heartbeat' }, ago(p.last_heartbeat)),
        h('td', { 'data-col': 'violations' }, String(p.violations_total)),
        h('td', null, p.quarantined
          ? h('button', { 'data-action': 'approve', disabled: !mayAct, title: why, 'aria-label': `Release ${p.name}`, onClick: () => setPending({ provider: p.name, action: 'approve' }) }, 'Release')
          : h('button', { 'data-action': 'quarantine', class: 'danger', disabled: !mayAct, title: why, 'aria-label': `Quarantine ${p.name}`, onClick: () => setPending({ provider: p.name, action: 'quarantine' }) }, 'Quarantine')))))),
    pending && h(ConfirmDialog, {
      pending,
      onCancel: () => setPending(undefined),
      onDone: (msg: string) => {
        setPending(undefined)
        setNotice(msg)
        void load()
      },
    }))
}
