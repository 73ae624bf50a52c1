// cli/k8s.ts as the real command (`node --import tsx cli/main.ts k8s inject …`): a file to
// stdout, -o to a file (atomically, the summary on stderr), `-f -` from stdin, the options reaching
// the output, refusals exit 2 with every refusal listed and nothing written (control: the fixed file
// is written), a missing file named, and a second run over the output a no-op.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { runNode, type NodeRun } from '../helpers/child.js'

t.setTimeout(180_000)
const root = new URL('../../', import.meta.url).pathname

function cli(args: string[], input?: string): Promise<NodeRun> {
  return runNode(['--import', 'tsx', join(root, 'cli/main.ts'), ...args], { cwd: root, ...(input !== undefined && { input }) })
}

const GOOD = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: fetch}
spec:
  selector: {matchLabels: {app: fetch}}
  template:
    metadata:
      labels: {app: fetch}
      annotations: {mcp.hangar.io/inject: "true", mcp.hangar.io/profile: fetch}
    spec:
      containers: [{name: server, image: example/fetch:1, ports: [{containerPort: 3000}]}]
`
const BAD = GOOD.replace('    spec:\n      containers:', '    spec:\n      hostNetwork: true\n      shareProcessNamespace: true\n      containers:').replace('ports: [{containerPort: 3000}]', 'ports: [{containerPort: 3000}], securityContext: {capabilities: {add: [NET_ADMIN]}}')

t.test('-f FILE writes to stdout; the options reach the output; injecting the output again is a no-op', async (t) => {
  const dir = t.testdir({ 'in.yaml': GOOD })
  const r = await cli(['k8s', 'inject', '-f', join(dir, 'in.yaml'), '--sidecar-image', 'reg.example/sidecar:9', '--aggregator-url', 'http://agg.ops.svc:8000', '--signal-token-secret', 'tok'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /^Deployment\/fetch: sidecar injected for provider fetch \(config in ConfigMap mcp-hangar-fetch\)$/m)
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, any>) // eslint-disable-line @typescript-eslint/no-explicit-any
  t.strictSame(docs.map((d) => d.kind), ['Service', 'Deployment', 'ConfigMap'])
  const sidecar = docs[1]!.spec.template.spec.initContainers[1]
  t.equal(sidecar.image, 'reg.example/sidecar:9')
  t.equal(sidecar.env[0].valueFrom.secretKeyRef.name, 'tok')
  t.match(docs[2]!.data['hangar.yaml'], /url: http:\/\/agg\.ops\.svc:8000/)
  writeFileSync(join(dir, 'out.yaml'), r.stdout)
  const again = await cli(['k8s', 'inject', '-f', join(dir, 'out.yaml'), '--sidecar-image', 'reg.example/sidecar:9', '--aggregator-url', 'http://agg.ops.svc:8000', '--signal-token-secret', 'tok'])
  t.equal(again.code, 0)
  t.equal(again.stdout, r.stdout)
  t.notMatch(again.stderr, /note:/)
})

t.test('-f - reads stdin; -o writes the file atomically and says so', async (t) => {
  const dir = t.testdir({})
  const out = join(dir, 'out.yaml')
  const r = await cli(['k8s', 'inject', '-f', '-', '-o', out], GOOD)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '')
  t.match(r.stderr, new RegExp(`^wrote ${out}$`, 'm'))
  t.match(readFileSync(out, 'utf8'), /name: mcp-hangar-sidecar/)
  t.strictSame(readdirSync(dir), ['out.yaml'], 'no temp file left')
})

t.test('refusals: exit 2, every refusal listed with its path, nothing written; control: the fixed file is written', async (t) => {
  const dir = t.testdir({ 'in.yaml': BAD })
  const out = join(dir, 'out.yaml')
  const r = await cli(['k8s', 'inject', '-f', join(dir, 'in.yaml'), '-o', out])
  t.equal(r.code, 2)
  t.equal(r.stdout, '')
  for (const p of ['spec.template.spec.hostNetwork', 'spec.template.spec.shareProcessNamespace', 'spec.template.spec.containers[0].securityContext.capabilities.add[0]']) {
    t.match(r.stderr, new RegExp(`^  Deployment/fetch \\(document 2\\) ${p.replace(/[.[\]]/g, '\\$&')}: .+`, 'm'), p)
  }
  t.equal(r.stderr.trim().split('\n').length, 4, 'the header line and three refusals')
  t.notOk(existsSync(out), 'nothing written')
  writeFileSync(join(dir, 'in.yaml'), GOOD)
  const ok = await cli(['k8s', 'inject', '-f', join(dir, 'in.yaml'), '-o', out])
  t.equal(ok.code, 0)
  t.ok(existsSync(out))
})

t.test('a missing file is named; no opted-in template is said', async (t) => {
  const dir = t.testdir({ 'plain.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' })
  const r = await cli(['k8s', 'inject', '-f', join(dir, 'nope.yaml')])
  t.equal(r.code, 2)
  t.match(r.stderr, /^mcp-hangar: manifest file not found: .*nope\.yaml$/m)
  const p = await cli(['k8s', 'inject', '-f', join(dir, 'plain.yaml')])
  t.equal(p.code, 0)
  t.equal(p.stdout, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n')
  t.match(p.stderr, /nothing injected/)
})

t.test('the injected init container runs: its arguments give `k8s init --print` a ruleset nft accepts (nft -c)', async (t) => {
  const manifest = `apiVersion: v1
kind: Pod
metadata: {name: fetch}
spec:
  containers:
    - name: server
      image: example/mcp-fetch:1
      ports: [{containerPort: 8080}]
`.replace('metadata: {name: fetch}', 'metadata: {name: fetch, annotations: {mcp.hangar.io/inject: "true"}}')
  const injected = await cli(['k8s', 'inject', '-f', '-'], manifest)
  t.equal(injected.code, 0, injected.stderr)
  const pod = parseAllDocuments(injected.stdout).map((d) => d.toJS() as { kind?: string; spec?: { initContainers?: Array<{ name: string; args: string[] }> } }).find((d) => d?.kind === 'Pod')
  const init = pod?.spec?.initContainers?.find((c) => c.name === 'mcp-hangar-init')
  t.ok(init, 'the init container is there')
  const printed = await cli([...(init?.args ?? []), '--print'])
  t.equal(printed.code, 0, printed.stderr)
  t.match(printed.stdout, /table inet hangar/)
  const check = spawnSync('nft', ['-c', '-f', '-'], { input: printed.stdout, encoding: 'utf8' })
  t.equal(check.status, 0, `nft -c: ${check.stderr}`)
  const broken = spawnSync('nft', ['-c', '-f', '-'], { input: printed.stdout.replace('policy drop', 'policy dorp'), encoding: 'utf8' })
  t.not(broken.status, 0, 'control: nft -c refuses a damaged ruleset')
})
