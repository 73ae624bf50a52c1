/**
 * The operator console's entry point (bundled to dist/ui/app.js by scripts/ui-build.mjs): asks
 * for a credential once (kept in sessionStorage, sent as a bearer header only), learns the role
 * from `GET /v1/whoami`, and shows the Providers and Live violations pages.
 */
import { h, render, type ComponentChild } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, getToken, setToken, type Whoami } from './api.js'
import { LivePage } from './live.js'
import { ProvidersPage } from './providers.js'

type Page = 'providers' | 'live'

function Login(props: { error: string; onToken(t: string): void }): ComponentChild {
  const [value, setValue] = useState('')
  return h('main', null,
    h('h2', null, 'Sign in'),
    h('form', {
      class: 'login',
      onSubmit: (e: Event) => {
        e.preventDefault()
        if (value.trim()) props.onToken(value.trim())
      },
    },
    h('label', { for: 'token' }, 'API key or token'),
    h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, value, onInput: (e: Event) => setValue((e.target as HTMLInputElement).value) }),
    h('p', { class: 'muted' }, 'Kept for this tab only (sessionStorage) and sent as an Authorization header; never put in a URL.'),
    props.error && h('p', { class: 'error', role: 'alert' }, props.error),
    h('button', { type: 'submit', id: 'sign-in' }, 'Sign in')))
}

function App(): ComponentChild {
  const [me, setMe] = useState<Whoami | undefined>()
  const [error, setError] = useState('')
  const [page, setPage] = useState<Page>('providers')
  const [token, setTok] = useState(getToken())
  useEffect(() => {
    if (!token) return
    api<Whoami>('/v1/whoami').then(setMe, (e: unknown) => {
      setToken(undefined)
      setTok(undefined)
      setError(e instanceof ApiError ? `${e.status}: ${e.message}` : String(e))
    })
  }, [token])
  const header = h('header', null,
    h('h1', null, 'MCP Hangar'),
    me && h('nav', { 'aria-label': 'Pages' },
      ...([['providers', 'Providers'], ['live', 'Live violations']] as const).map(([id, label]) =>
        h('button', { id: `nav-${id}`, 'aria-current': page === id ? 'page' : undefined, onClick: () => setPage(id) }, label))),
    me && h('span', { id: 'whoami', class: 'muted' }, `${me.name} (${me.role})`),
    me && h('button', { id: 'sign-out', onClick: () => { setToken(undefined); setTok(undefined); setMe(undefined) } }, 'Sign out'))
  if (!token || !me) {
    return h('div', null, header, token && !error ? h('main', null, h('p', null, 'Signing in…')) : h(Login, {
      error,
      onToken: (t: string) => {
        setToken(t)
        setError('')
        setTok(t)
      },
    }))
  }
  return h('div', null, header, h('main', null, page === 'providers' ? h(ProvidersPage, { role: me.role }) : h(LivePage, null)))
}

const root = document.getElementById('app')
if (root) {
  root.textContent = ''
  render(h(App, null), root)
}
