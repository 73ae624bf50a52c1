// The one version string (core/version.ts) is package.json's.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { HANGAR_VERSION } from '../../core/version.js'

t.test('HANGAR_VERSION is package.json version, a semantic version', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(HANGAR_VERSION, pkg.version)
  t.match(HANGAR_VERSION, /^\d+\.\d+\.\d+(-[\w.]+)?$/)
})
