// `mcp-hangar k8s networkpolicy` as the built command (dist/mcp-hangar.mjs, built here by
// `npm run build` when missing): YAML on stdout that the API schema accepts and that equals
// networkPolicyFor's object, -o written atomically (no temp file left) with the notes on stderr, the
// options reaching the object, and bad configs exiting 2 with the config path named and nothing
// written (control: the fixed config is written).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ensureBuilt } from '../helpers/build.js'
import { parse } from 'yaml'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { parseConfig } from '../../config/load.js'
import { networkPolicyFor } from '../../k8s/networkpolicy.js'
import { runNode, type NodeRun } from '../helpers/child.js'

t.setTimeout(300_000)
const root = new URL('../../', import.meta.url).pathname
const bundle = join(root, 'dist/mcp-hangar.mjs')

t.before(() => ensureBuilt())

function cli(args: string[], cwd: string): Promise<NodeRun> {
  return runNode([bundle, ...args], { cwd })
}

const CONFIG = `aggregator:
  url: http://mcp-hangar-aggregator.ops.svc:8000
providers:
  fetch:
    mode: remote
    endpoint: http://127.0.0.1:3000/mcp
    k8s:
      ingress_from:
        - namespace: agents
    capabilities:
      network:
        egress:
          - host: "*.githubusercontent.com"
          - cidr: 10.20.0.0/16
            port: 5432
            protocol: tcp
`

t.test('stdout: YAML of the policy networkPolicyFor gives, valid, with the notes on stderr', async (t) => {
  const dir = t.testdir({ 'hangar.yaml': CONFIG })
  const r = await cli(['k8s', 'networkpolicy', '-c', 'hangar.yaml', '--provider', 'fetch', '--namespace', 'tools'], dir)
  t.equal(r.code, 0, r.stderr)
  const np = parse(r.stdout) as Record<string, unknown>
  t.doesNotThrow(() => new NetworkPolicy(np as ConstructorParameters<typeof NetworkPolicy>[0]).validate(), 'the API schema accepts it')
  t.strictSame(np, networkPolicyFor(parseConfig(CONFIG, 'x').config, 'fetch', { namespace: 'tools' }), "the library's object, namespace from the option")
  t.match(r.stderr, /note: the policy selects pods labelled mcp\.hangar\.io\/provider=fetch \(injection sets this label/)
  t.notMatch(r.stderr, /no ingress/, 'ingress_from names a peer: no deny note')
})

t.test('-o writes atomically; --pod-selector and --aggregator-url reach the object; no ingress_from is noted', async (t) => {
  const dir = t.testdir({ 'hangar.yaml': CONFIG.replace(/ {4}k8s:\n {6}ingress_from:\n {8}- namespace: agents\n/, '') })
  const r = await cli(['k8s', 'networkpolicy', '-c', 'hangar.yaml', '-p', 'fetch', '-o', 'np.yaml', '--pod-selector', 'app=fetch,tier=mcp', '--pod-selector', 'team=x', '--aggregator-url', 'http://10.3.0.9:8000'], dir)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '', 'nothing on stdout')
  t.match(r.stderr, new RegExp(`wrote ${join(dir, 'np.yaml')}`))
  t.match(r.stderr, /note: providers\.fetch\.k8s\.ingress_from names no peer: the policy admits no ingress at all/)
  t.strictSame(readdirSync(dir).sort(), ['hangar.yaml', 'np.yaml'], 'no temp file left')
  const np = parse(readFileSync(join(dir, 'np.yaml'), 'utf8')) as { spec: { podSelector: unknown; ingress: unknown[]; egress: Array<{ to: Array<{ ipBlock?: { cidr: string } }>; ports: unknown }> } }
  t.strictSame(np.spec.podSelector, { matchLabels: { app: 'fetch', tier: 'mcp', team: 'x' } })
  t.strictSame(np.spec.ingress, [])
  t.strictSame(np.spec.egress.find((e) => e.to[0]?.ipBlock?.cidr === '10.3.0.9/32')?.ports, [{ protocol: 'TCP', port: 8000 }], 'the aggregator by IP')
})

t.test('what cannot be expressed exits 2 naming the config path; nothing written; control: the fixed config is', async (t) => {
  const dir = t.testdir({ 'bad.yaml': CONFIG.replace('mcp-hangar-aggregator.ops.svc', 'aggregator.example.com'), 'typo.yaml': CONFIG.replace('ingress_from', 'ingress_form'), 'good.yaml': CONFIG })
  const bad = await cli(['k8s', 'networkpolicy', '-c', 'bad.yaml', '-p', 'fetch', '-o', 'out.yaml'], dir)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /aggregator\.url: "aggregator\.example\.com" is neither an IP address nor an in-cluster Service name/)
  t.notOk(existsSync(join(dir, 'out.yaml')), 'nothing written')
  const typo = await cli(['k8s', 'networkpolicy', '-c', 'typo.yaml', '-p', 'fetch'], dir)
  t.equal(typo.code, 2)
  t.match(typo.stderr, /providers\.fetch\.k8s.*ingress_form/, 'an unknown key is an error')
  t.equal(typo.stdout, '')
  const missing = await cli(['k8s', 'networkpolicy', '-c', 'good.yaml', '-p', 'nope'], dir)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /providers\.nope: no such provider \(have: fetch\)/)
  const sel = await cli(['k8s', 'networkpolicy', '-c', 'good.yaml', '-p', 'fetch', '--pod-selector', 'novalue'], dir)
  t.not(sel.code, 0)
  t.match(sel.stderr, /--pod-selector: expected key=value, got "novalue"/)
  writeFileSync(join(dir, 'fixed.yaml'), CONFIG)
  const ok = await cli(['k8s', 'networkpolicy', '-c', 'fixed.yaml', '-p', 'fetch', '-o', 'out.yaml'], dir)
  t.equal(ok.code, 0, ok.stderr)
  t.ok(existsSync(join(dir, 'out.yaml')), 'control: the fixed config is written')
})
