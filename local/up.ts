/**
 * `mcp-hangar up`: the local all-in-one (issue 5, DESIGN.md §1). Starts the aggregator and one
 * sidecar per provider as separate processes of this same program (the code that runs in
 * containers), each subprocess provider in its own network namespace when the machine allows it
 * (local/isolation.ts), and each `mode: container` provider with its sidecar as containers
 * (local/container-stack.ts, issue 6); supervises them, and on {@link LocalStack.stop} stops the
 * sidecars (which stop their providers), then the aggregator, then removes the namespaces, veth
 * pairs, nftables tables, containers, networks and the run directory.
 *
 * Files: `<aggregator.data_dir>/run/hangar.effective.json` (mode 0600: it holds the tokens), the
 * config every child reads; removed on stop.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import type Dockerode from 'dockerode'
import type { HangarConfig } from '../core/config/schema.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { effectiveConfig, userSteering, type ProviderRuntime } from './effective-config.js'
import type { IsolationCheck } from './isolation.js'
import { setupNetns, takenSubnets, teardownNetns } from './netns.js'
import { planKey, planNetns, type NetnsPlan } from './plan.js'
import { ManagedProcess } from './supervisor.js'
import { ContainerProviderStack, removeLabelledNow, type ContainerProviderInfo } from './container-stack.js'
import { DEFAULT_SIDECAR_IMAGE } from '../compose/images.js'

export interface LocalStackOptions {
  config: HangarConfig
  /** Absolute path of the user's config file (names the namespaces, stable across runs). */
  configPath: string
  isolation: IsolationCheck
  log: Logger
  /** How to run this program again: `[execPath, ...nodeFlags, script]`. */
  self: readonly string[]
  /** The environment of the children (tokens, log level). */
  env: NodeJS.ProcessEnv
  cwd: string
  /** User the providers run as in netns mode. Default `nobody`. */
  runAs?: string
  /** Per-process readiness deadline, ms. Default 60000. */
  readyTimeoutMs?: number
  /** Called when a process keeps exiting (after its restarts); the caller stops the stack. */
  onFatal: (why: string) => void
  /** `mode: container`: the sidecar image. Default `mcp-hangar/sidecar:<version>` (compose/build-images.mjs). */
  sidecarImage?: string
  /** `mode: container`: the seccomp profile of the provider and sidecar containers. */
  seccompPath: string
}

/** What `up` prints once everything is ready. */
export interface StackSummary {
  isolation: IsolationCheck
  aggregatorUrl: string
  auditLog: string
  providers: Array<{ name: string; mcpUrl: string; mode: string; netns?: string; sidecarIp?: string; providerIp?: string; network?: string; container?: string }>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export class LocalStack {
  readonly #o: LocalStackOptions
  readonly #plans: NetnsPlan[] = []
  readonly #procs: ManagedProcess[] = []
  #aggregator: ManagedProcess | undefined
  readonly #containers: ContainerProviderStack[] = []
  readonly #containerInfo = new Map<string, ContainerProviderInfo>()
  #docker: Dockerode | undefined
  #runDir = ''
  #stopped = false

  constructor(o: LocalStackOptions) {
    this.#o = o
  }

  /**
   * Builds the namespaces, writes the effective config, starts and waits for every process.
   * @throws HangarError `HANGAR_ISOLATION_FAILED`, `HANGAR_UP_FAILED` (after undoing everything)
   */
  async start(): Promise<StackSummary> {
    const { config, log } = this.#o
    const netns = this.#o.isolation.mode === 'netns'
    const runtime = new Map<string, ProviderRuntime>()
    const containers: string[] = []
    const taken = netns ? takenSubnets() : new Set<string>()
    let i = 0
    for (const [name, p] of Object.entries(config.providers)) {
      const defaultListen = `127.0.0.1:${8101 + i++}`
      const rt: ProviderRuntime = { adminPort: await freePort(), defaultListen }
      if (p.mode === 'container') {
        containers.push(name)
        runtime.set(name, rt)
        continue
      }
      if (p.mode === 'subprocess') {
        if (netns) {
          const tcpPorts = p.capabilities.network.egress.filter((r) => r.protocol === 'tcp' && r.port).map((r) => r.port!)
          const steering = userSteering(p)
          rt.plan = planNetns({ provider: name, key: planKey(this.#o.configPath, name), taken, tcpPorts, ...(steering && { steering }) })
          taken.add(rt.plan.network)
        } else {
          rt.proxyPort = await freePort()
          rt.dnsPort = await freePort()
        }
      }
      runtime.set(name, rt)
    }
    const eff = effectiveConfig(config, runtime, this.#o.cwd)
    const agg = eff.aggregator as { listen: string; url: string; data_dir: string }
    this.#runDir = join(agg.data_dir, 'run')
    try {
      mkdirSync(this.#runDir, { recursive: true, mode: 0o700 })
      const file = join(this.#runDir, 'hangar.effective.json')
      writeFileSync(file, `${JSON.stringify(eff, null, 2)}\n`, { mode: 0o600 })
      for (const rt of runtime.values()) {
        if (!rt.plan) continue
        setupNetns(rt.plan)
        this.#plans.push(rt.plan)
        log.info({ provider: rt.plan.provider, netns: rt.plan.netns, sidecar: rt.plan.hostIp, provider_ip: rt.plan.nsIp }, 'network namespace ready')
      }
      const readyTimeout = this.#o.readyTimeoutMs ?? 60_000
      this.#aggregator = this.#spawn('aggregator', ['aggregator', '-c', file], `${agg.url}/ready`)
      await this.#aggregator.ready(readyTimeout)
      const providers = eff.providers as Record<string, { listen: string; mode: string }>
      for (const name of containers) await this.#startContainer(name, eff, readyTimeout)
      for (const [name, p] of Object.entries(providers)) {
        if (p.mode === 'container') continue
        const rt = runtime.get(name)!
        const args = ['sidecar', '-c', file, '--provider', name, '--isolation', this.#o.isolation.mode]
        if (p.mode === 'remote') args.push('--no-egress')
        if (rt.plan) args.push('--netns', rt.plan.netns, '--run-as', this.#o.runAs ?? 'nobody')
        this.#spawn(name, args, `http://127.0.0.1:${rt.adminPort}/ready`)
      }
      await Promise.all(this.#procs.filter((p) => p !== this.#aggregator).map((p) => p.ready(readyTimeout)))
      return {
        isolation: this.#o.isolation,
        aggregatorUrl: agg.url,
        auditLog: join(agg.data_dir, 'audit', 'audit.jsonl'),
        providers: Object.entries(providers).map(([name, p]) => {
          const plan = runtime.get(name)?.plan
          const box = this.#containerInfo.get(name)
          return {
            name, mode: p.mode, mcpUrl: `http://${p.listen}/mcp`,
            ...(plan && { netns: plan.netns, sidecarIp: plan.hostIp, providerIp: plan.nsIp }),
            ...(box && { network: box.internalNetwork, sidecarIp: box.sidecarIp, container: box.sidecarContainer }),
          }
        }),
      }
    } catch (err) {
      await this.stop()
      if (err instanceof HangarError) throw err
      throw new HangarError(ERROR_CODES.UP_FAILED, (err as Error).message)
    }
  }

  /** A `mode: container` provider: its networks, broker, relay and sidecar container (local/container-stack.ts). */
  async #startContainer(name: string, eff: Record<string, unknown>, readyTimeout: number): Promise<void> {
    const { config, log } = this.#o
    if (!this.#docker) {
      const { default: Docker } = await import('dockerode')
      this.#docker = new Docker()
    }
    const providerEff = (eff.providers as Record<string, Record<string, unknown>>)[name]!
    const stack = new ContainerProviderStack({
      name,
      provider: config.providers[name]!,
      key: planKey(this.#o.configPath, name),
      docker: this.#docker,
      sidecarImage: this.#o.sidecarImage ?? DEFAULT_SIDECAR_IMAGE,
      seccompPath: this.#o.seccompPath,
      aggregatorUrl: (eff.aggregator as { url: string }).url,
      runDir: this.#runDir,
      dataDir: (providerEff.sidecar as { data_dir: string }).data_dir,
      providerEffective: providerEff,
      aggregatorEffective: eff.aggregator as Record<string, unknown>,
      listen: providerEff.listen as string,
      baseDir: dirname(this.#o.configPath),
      sidecarEnv: Object.fromEntries(['MCP_LOG_LEVEL', 'MCP_JSON_LOGS'].filter((k) => this.#o.env[k] !== undefined).map((k) => [k, this.#o.env[k]!])),
      log,
      onFatal: (why) => this.#o.onFatal(why),
    })
    this.#containers.push(stack)
    this.#containerInfo.set(name, await stack.start(readyTimeout))
    log.info({ provider: name, ...this.#containerInfo.get(name) }, 'container provider ready')
  }

  #spawn(name: string, args: string[], readyUrl: string): ManagedProcess {
    const [command, ...pre] = this.#o.self
    const p = new ManagedProcess({
      name, command: command!, args: [...pre, ...args], env: this.#o.env, readyUrl, log: this.#o.log,
      onGiveUp: (why) => this.#o.onFatal(why),
    })
    p.start()
    this.#procs.push(p)
    return p
  }

  /**
   * Synchronous last resort when `up` exits without {@link stop} (an uncaught error): kills every
   * process and removes the namespaces, tables and run dir.
   */
  killNow(): void {
    if (this.#stopped) return
    this.#stopped = true
    for (const p of this.#procs) p.killNow()
    // Containers need the (asynchronous) Docker API; the docker CLI, when present, removes them now,
    // and the next `up` of this config removes whatever is left (labels mcp.hangar.up=<key>).
    for (const c of this.#containers) removeLabelledNow(c.key)
    for (const plan of this.#plans) teardownNetns(plan)
    if (this.#runDir) rmSync(this.#runDir, { recursive: true, force: true })
  }

  /** Stops sidecars (and so providers), then the aggregator; removes namespaces, tables, run dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const p of this.#procs) p.markStopping()
    await Promise.all([...this.#procs.filter((p) => p !== this.#aggregator).map((p) => p.stop()), ...this.#containers.map((c) => c.stop())])
    await this.#aggregator?.stop()
    for (const plan of this.#plans) teardownNetns(plan)
    if (this.#runDir) rmSync(this.#runDir, { recursive: true, force: true })
  }
}
