/**
 * `mcp-hangar up`: the local all-in-one. Starts the aggregator and one
 * sidecar per provider as separate processes of this same program (the code that runs in
 * containers), each subprocess provider in its own network namespace when the machine allows it
 * (sidecar/isolation.ts), and each `mode: container` provider with its sidecar as containers
 * (local/container-stack.ts); supervises them, and on {@link LocalStack.stop} stops the
 * sidecars (which stop their providers), then the aggregator, then removes the namespaces, veth
 * pairs, nftables tables, containers, networks and the run directory.
 *
 * Each subprocess provider in `netns` mode also gets a uid of its own (local/identity.ts), a
 * cgroup (local/cgroup.ts) and a private process and file view (local/sandbox.ts). The aggregator
 * and sidecars die with `up` (`setpriv --pdeathsig`), providers with their sidecar (bwrap
 * `--die-with-parent`), and what outlives a SIGKILLed `up` (namespaces, tables, cgroups) is
 * recorded in `<run dir>/state.json` and removed by the next `up` (local/run-state.ts).
 *
 * Files: `<aggregator.data_dir>/run/` (mode 0700): `hangar.effective.json` (0600: it holds the
 * tokens), the config every child reads; `state.json`; each provider's sandbox spec and account
 * files. Removed on stop.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import type Dockerode from 'dockerode'
import type { HangarConfig } from '../config/schema.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { effectiveConfig, userSteering, type ProviderRuntime } from './effective-config.js'
import type { IsolationCheck } from '../sidecar/isolation.js'
import { setupNetns, takenSubnets, teardownNetns } from './netns.js'
import { planKey, planNetns, type NetnsPlan } from './plan.js'
import { ManagedProcess } from './supervisor.js'
import { ContainerProviderStack, removeLabelledNow, type ContainerProviderInfo } from './container-stack.js'
import { DEFAULT_SIDECAR_IMAGE } from '../sidecar/images.js'
import { cgroupPids, detectCgroups } from './cgroup.js'
import { hostReserved, pickProviderUid, resolveRunAs, systemIdLookup } from './identity.js'
import { prepareProviderSandbox, releaseProviderSandbox } from './provider-sandbox.js'
import { cleanupRun, procStartTime, readRunState, sameProcess, writeRunState, type RunState } from './run-state.js'

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
  /** One explicit identity for every provider in netns mode (`user[:group]`); default a uid of its own per provider. */
  runAs?: string
  /** Aggregator and sidecars die with `up` (`setpriv --pdeathsig KILL`). Default: when isolation is netns. */
  dieWithParent?: boolean
  /** The environment values providers inherit (PATH, CA files): the sandbox exposes what they name. */
  providerEnv?: Readonly<Record<string, string | undefined>>
  /** Per-process readiness deadline, ms. Default 60000. */
  readyTimeoutMs?: number
  /** Called when a process keeps exiting (after its restarts); the caller stops the stack. */
  onFatal: (why: string) => void
  /** `mode: container`: the sidecar image. Default `mcp-hangar/sidecar:<version>` (`mcp-hangar images build`). */
  sidecarImage?: string
  /** `mode: container`: the seccomp profile of the provider and sidecar containers. */
  seccompPath: string
}

/** What `up` prints once everything is ready. */
export interface StackSummary {
  isolation: IsolationCheck
  aggregatorUrl: string
  auditLog: string
  providers: Array<{ name: string; mcpUrl: string; mode: string; netns?: string; sidecarIp?: string; providerIp?: string; network?: string; container?: string; uid?: number }>
  /** Leftovers of an earlier run that `up` removed before it started. */
  cleaned?: string[]
  /** Warnings about the providers' sandboxes (paths not exposed, limits not applied). */
  notes?: string[]
}

/** One sandboxed provider of this run. */
interface Sandboxed {
  name: string
  uid: number
  cgroup?: import('./cgroup.js').ProviderCgroup
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
  readonly #sandboxes: Sandboxed[] = []
  #state: RunState | undefined

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
    const runDir = join(agg.data_dir, 'run')
    // Before #runDir is set: when another run is still going, stop() must not touch its run dir.
    const cleaned = await this.#cleanLeftovers(runDir)
    this.#runDir = runDir
    const notes: string[] = []
    const effProviders = eff.providers as Record<string, { sidecar: { data_dir: string }; cwd?: string }>
    const uids = new Map<string, { uid: number; gid: number }>()
    if (netns) {
      const explicit = this.#o.runAs ? resolveRunAs(this.#o.runAs, systemIdLookup) : undefined
      const reserved = hostReserved()
      const taken = new Set<number>()
      for (const [name, rt] of runtime) {
        if (!rt.plan) continue
        const uid = explicit?.uid ?? pickProviderUid(rt.plan.netns.slice(3), taken, reserved)
        taken.add(uid)
        uids.set(name, explicit ?? { uid, gid: uid })
      }
    }
    this.#state = {
      version: 1,
      up: { pid: process.pid, starttime: procStartTime(process.pid) ?? '' },
      config: this.#o.configPath,
      started: new Date().toISOString(),
      processes: [],
      providers: [...runtime].filter(([, rt]) => rt.plan).map(([name, rt]) => ({
        name, key: rt.plan!.netns.slice(3), netns: rt.plan!.netns, vethHost: rt.plan!.vethHost, hostTable: rt.plan!.hostTable, uid: uids.get(name)!.uid,
      })),
      containers: containers.map((name) => planKey(this.#o.configPath, name)),
    }
    try {
      mkdirSync(this.#runDir, { recursive: true, mode: 0o700 })
      chmodSync(this.#runDir, 0o700)
      for (const d of [agg.data_dir, ...Object.values(effProviders).map((p) => p.sidecar.data_dir)]) tightenTree(d)
      writeRunState(this.#runDir, this.#state)
      const file = join(this.#runDir, 'hangar.effective.json')
      writeFileSync(file, `${JSON.stringify(eff, null, 2)}\n`, { mode: 0o600 })
      const protect = [this.#o.configPath, agg.data_dir, this.#runDir, ...Object.values(effProviders).map((p) => p.sidecar.data_dir)]
      const layout = netns ? detectCgroups() : undefined
      const specFiles = new Map<string, string>()
      for (const [name, rt] of runtime) {
        if (!rt.plan) continue
        setupNetns(rt.plan)
        this.#plans.push(rt.plan)
        const id = uids.get(name)!
        const others = Object.entries(effProviders).filter(([n, p]) => n !== name && p.cwd).map(([, p]) => p.cwd!)
        const box = await prepareProviderSandbox({
          name, provider: config.providers[name]!, plan: rt.plan, uid: id.uid, gid: id.gid, runDir: this.#runDir, cwd: this.#o.cwd,
          inheritedEnv: this.#o.providerEnv ?? {}, protect: [...protect, ...others], layout: layout!, log,
        })
        this.#sandboxes.push({ name, uid: id.uid, ...(box.cgroup && { cgroup: box.cgroup }) })
        const rec = this.#state.providers.find((p) => p.name === name)!
        if (box.cgroup) rec.cgroup = box.cgroup
        writeRunState(this.#runDir, this.#state)
        specFiles.set(name, box.specFile)
        for (const n of box.notes) log.warn(n)
        notes.push(...box.notes)
        log.info({ provider: rt.plan.provider, netns: rt.plan.netns, sidecar: rt.plan.hostIp, provider_ip: rt.plan.nsIp, uid: id.uid, cgroup: box.cgroup?.v2Dir ?? box.cgroup?.dirs.at(-1) }, 'network namespace and sandbox ready')
      }
      const readyTimeout = this.#o.readyTimeoutMs ?? 60_000
      this.#aggregator = this.#spawn('aggregator', 'aggregator', ['aggregator', '-c', file], `${agg.url}/ready`)
      await this.#aggregator.ready(readyTimeout)
      const providers = eff.providers as Record<string, { listen: string; mode: string }>
      for (const name of containers) await this.#startContainer(name, eff, readyTimeout)
      for (const [name, p] of Object.entries(providers)) {
        if (p.mode === 'container') continue
        const rt = runtime.get(name)!
        const args = ['sidecar', '-c', file, '--provider', name, '--isolation', this.#o.isolation.mode]
        if (p.mode === 'remote') args.push('--no-egress')
        if (rt.plan) args.push('--netns', rt.plan.netns, '--sandbox', specFiles.get(name)!)
        this.#spawn(name, 'sidecar', args, `http://127.0.0.1:${rt.adminPort}/ready`)
      }
      await Promise.all(this.#procs.filter((p) => p !== this.#aggregator).map((p) => p.ready(readyTimeout)))
      return {
        isolation: this.#o.isolation,
        ...(cleaned.length && { cleaned }),
        ...(notes.length && { notes }),
        aggregatorUrl: agg.url,
        auditLog: join(agg.data_dir, 'audit', 'audit.jsonl'),
        providers: Object.entries(providers).map(([name, p]) => {
          const plan = runtime.get(name)?.plan
          const box = this.#containerInfo.get(name)
          return {
            name, mode: p.mode, mcpUrl: `http://${p.listen}/mcp`,
            ...(plan && { netns: plan.netns, sidecarIp: plan.hostIp, providerIp: plan.nsIp, uid: uids.get(name)!.uid }),
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

  #spawn(name: string, role: 'aggregator' | 'sidecar', args: string[], readyUrl: string): ManagedProcess {
    const [command, ...pre] = this.#o.self
    const p = new ManagedProcess({
      name, command: command!, args: [...pre, ...args], env: this.#o.env, readyUrl, log: this.#o.log,
      onGiveUp: (why) => this.#o.onFatal(why),
      dieWithParent: this.#o.dieWithParent ?? this.#o.isolation.mode === 'netns',
      onSpawn: (pid) => this.#recordProcess(role, name, pid),
    })
    p.start()
    this.#procs.push(p)
    return p
  }

  /** Records (or replaces, after a restart) a process in the run state. */
  #recordProcess(role: 'aggregator' | 'sidecar', name: string, pid: number): void {
    if (!this.#state || this.#stopped) return
    const starttime = procStartTime(pid)
    if (!starttime) return
    this.#state.processes = [...this.#state.processes.filter((p) => !(p.role === role && p.name === name)), { role, name, pid, starttime }]
    try {
      writeRunState(this.#runDir, this.#state)
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'cannot record the run state')
    }
  }

  /**
   * Removes what an earlier run of this config left (its `state.json` in the run dir), before
   * anything is made.
   * @throws HangarError `HANGAR_UP_FAILED` when that run is still going
   */
  async #cleanLeftovers(runDir: string): Promise<string[]> {
    const prior = readRunState(runDir)
    if (!prior) return []
    if ('invalid' in prior) {
      this.#o.log.warn({ file: join(runDir, 'state.json'), err: prior.invalid }, 'unreadable run state of an earlier run; removed')
      rmSync(runDir, { recursive: true, force: true })
      return []
    }
    const { state } = prior
    if (state.up.pid !== process.pid && sameProcess(state.up.pid, state.up.starttime)) {
      throw new HangarError(ERROR_CODES.UP_FAILED, `another mcp-hangar up (pid ${state.up.pid}, started ${state.started}) runs with this config's data dir ${dirname(runDir)}; stop it first`)
    }
    const report = await cleanupRun(state, (keys) => keys.forEach((k) => removeLabelledNow(k)))
    for (const l of report.left) this.#o.log.error(`left by an earlier run and not removable: ${l}`)
    if (report.left.length) throw new HangarError(ERROR_CODES.UP_FAILED, `an earlier run (pid ${state.up.pid}) left what cannot be removed: ${report.left.join('; ')}`)
    rmSync(runDir, { recursive: true, force: true })
    return report.removed
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
    for (const s of this.#sandboxes) killCgroupNow(s.cgroup)
    for (const plan of this.#plans) teardownNetns(plan)
    // The cgroups can only be removed once their processes are gone: the run dir (and its
    // state.json) stays when there are any, so the next `up` (or `up --cleanup`) finishes the job.
    if (this.#runDir && this.#sandboxes.every((s) => !s.cgroup)) rmSync(this.#runDir, { recursive: true, force: true })
  }

  /** Stops sidecars (and so providers), then the aggregator; removes namespaces, tables, run dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const p of this.#procs) p.markStopping()
    await Promise.all([...this.#procs.filter((p) => p !== this.#aggregator).map((p) => p.stop()), ...this.#containers.map((c) => c.stop())])
    await this.#aggregator?.stop()
    const left: string[] = []
    for (const s of this.#sandboxes) left.push(...(await releaseProviderSandbox(s)))
    for (const plan of this.#plans) teardownNetns(plan)
    for (const l of left) this.#o.log.error(`could not remove: ${l}; \`mcp-hangar up --cleanup\` retries`)
    if (this.#runDir && !left.length) rmSync(this.#runDir, { recursive: true, force: true })
  }
}

/** Synchronous part of a cgroup kill (for an exiting `up`): `cgroup.kill`, then SIGKILL to each listed pid. */
function killCgroupNow(c: import('./cgroup.js').ProviderCgroup | undefined): void {
  if (!c) return
  try {
    if (c.v2Dir) writeFileSync(join(c.v2Dir, 'cgroup.kill'), '1')
  } catch {
    /* no cgroup.kill: the pids below */
  }
  for (const pid of cgroupPids(c)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* exited */
    }
  }
}

/**
 * Makes a data dir private: the directory and every directory under it 0700, every file 0600
 * (earlier versions wrote 0755/0644). Missing dirs are left to the processes that create them
 * (they run with umask 077). Never throws.
 */
export function tightenTree(dir: string, depth = 4): void {
  if (!existsSync(dir)) return
  try {
    chmodSync(dir, 0o700)
    if (depth === 0) return
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) tightenTree(p, depth - 1)
      else if (e.isFile() && (statSync(p).mode & 0o077) !== 0) chmodSync(p, 0o600)
    }
  } catch {
    /* not ours to change: left as it is */
  }
}
