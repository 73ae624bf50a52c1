/** Image names and the shipped security files (sidecar/images.ts): found from every layout the CLI runs in. */
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { HANGAR_VERSION } from '../../core/version.js'
import { DEFAULT_AGGREGATOR_IMAGE, DEFAULT_SIDECAR_IMAGE, SECCOMP_PROFILE, securityFile } from '../../sidecar/images.js'

t.test('the default images carry the version', async (t) => {
  t.equal(DEFAULT_SIDECAR_IMAGE, `mcp-hangar/sidecar:${HANGAR_VERSION}`)
  t.equal(DEFAULT_AGGREGATOR_IMAGE, `mcp-hangar/aggregator:${HANGAR_VERSION}`)
})

t.test('securityFile finds the repository seccomp profile from the source module', async (t) => {
  t.match(securityFile(SECCOMP_PROFILE), /security\/seccomp\/mcp-provider\.json$/)
})

t.test('securityFile: next to the bundle (../security) and the tsc output (../../security); missing → HANGAR_CONFIG_NOT_FOUND', async (t) => {
  const root = t.testdir({})
  mkdirSync(join(root, 'security/seccomp'), { recursive: true })
  writeFileSync(join(root, 'security/seccomp/x.json'), '{}')
  t.equal(securityFile('seccomp/x.json', pathToFileURL(join(root, 'dist/mcp-hangar.mjs'))), join(root, 'security/seccomp/x.json'))
  t.equal(securityFile('seccomp/x.json', pathToFileURL(join(root, 'dist/sidecar/images.js'))), join(root, 'security/seccomp/x.json'))
  t.throws(() => securityFile('seccomp/missing.json', pathToFileURL(join(root, 'dist/mcp-hangar.mjs'))), { code: 'HANGAR_CONFIG_NOT_FOUND', message: /security\/seccomp\/missing\.json is missing/ })
})
