// local/container-stack.ts where no Docker engine answers (none runs on this machine, and the
// tests point dockerode at a socket path nobody listens on, so the result does not depend on
// one): start() refuses with HANGAR_UP_FAILED naming the provider before it makes anything, and
// the synchronous leftover removal never throws. The container topology itself is exercised end
// to end by test/e2e/up-container.test.ts where an engine runs.
import { join } from 'node:path'
import Docker from 'dockerode'
import t from 'tap'
import { hangarConfigSchema } from '../../config/schema.js'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { BROKER_SOCKET_IN_SIDECAR, ContainerProviderStack, SIDECAR_INGRESS_PORT, SIDECAR_UID, removeLabelledNow, removeLeftovers } from '../../local/container-stack.js'
import { captureLog } from '../fixtures/aggregator/signals.js'

const root = new URL('../../', import.meta.url).pathname

function stack(dir: string, docker: Docker, onFatal: (why: string) => void = () => {}) {
  const provider = hangarConfigSchema.parse({ providers: { box: { mode: 'container', image: 'example/mcp:1' } } }).providers.box!
  return new ContainerProviderStack({
    name: 'box', provider, key: 'abcdef01', docker, sidecarImage: 'mcp-hangar/sidecar:test', seccompPath: join(root, 'security/seccomp/mcp-provider.json'),
    aggregatorUrl: 'http://127.0.0.1:8000', runDir: join(dir, 'run'), dataDir: join(dir, 'data'), providerEffective: {}, aggregatorEffective: {},
    listen: '127.0.0.1:8101', baseDir: dir, log: captureLog().log, onFatal,
  })
}

t.test('the constants the sidecar image and compose inject agree on', async (t) => {
  t.equal(SIDECAR_UID, 65532)
  t.equal(SIDECAR_INGRESS_PORT, 8080)
  t.equal(BROKER_SOCKET_IN_SIDECAR, '/run/hangar/broker.sock')
})

t.test('start() without an engine: HANGAR_UP_FAILED naming the provider, nothing made', { skip: process.getuid?.() === 0 ? false : 'the root check comes first' }, async (t) => {
  const dir = t.testdir({})
  const docker = new Docker({ socketPath: join(dir, 'no-engine.sock') })
  const s = stack(dir, docker)
  const e = await s.start(5000).then(() => undefined, (err: unknown) => err)
  t.ok(e instanceof HangarError)
  t.equal((e as HangarError).code, ERROR_CODES.UP_FAILED)
  t.match((e as Error).message, /^providers\.box: mode "container" needs a Docker engine, and none answers \(/)
  t.equal(s.key, 'abcdef01')
})

t.test('removeLeftovers: an engine that does not answer is an error to the caller', async (t) => {
  const dir = t.testdir({})
  await t.rejects(removeLeftovers(new Docker({ socketPath: join(dir, 'no-engine.sock') }), 'abcdef01'), /ENOENT|connect/)
})

t.test('removeLabelledNow never throws, whatever the docker CLI says', async (t) => {
  const saved = process.env.DOCKER_HOST
  process.env.DOCKER_HOST = `unix://${join(t.testdir({}), 'no-engine.sock')}`
  t.teardown(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = saved
  })
  t.doesNotThrow(() => removeLabelledNow('abcdef01'))
  const path = process.env.PATH
  process.env.PATH = '/nonexistent'
  try {
    t.doesNotThrow(() => removeLabelledNow('abcdef01'), 'no docker CLI at all')
  } finally {
    process.env.PATH = path
  }
})

t.test('stop() after a start that failed for want of an engine', async (t) => {
  const dir = t.testdir({})
  const s = stack(dir, new Docker({ socketPath: join(dir, 'no-engine.sock') }))
  await s.start(5000).catch(() => undefined)
  // LocalStack.start answers any failure with stop() and then rethrows the HangarError; a stop()
  // that rejected would replace that clear error with the engine's socket error and leave the
  // aggregator and the other sidecars running.
  t.test('stop() resolves although the engine does not answer', async (t) => {
    await t.resolves(s.stop())
  })
})
