/**
 * One `mode: container` provider under `mcp-hangar up`: the topology `compose inject`
 * writes, made at run time through the Docker API (dockerode).
 *
 * - network `hangar-<key>-internal`: `internal`, a /28 (sidecar/subnet.ts), no address on the host
 *   bridge (`inhibit_ipv4`), so the provider can reach nothing but its sidecar, not even the host;
 * - network `hangar-<key>-egress`: an ordinary bridge for the sidecar's own traffic;
 * - the sidecar container (`mcp-hangar/sidecar` image) on both, `.2` on the internal one, its MCP
 *   ingress published on the provider's `listen`, the aggregator reached through a relay `up`
 *   runs on the egress network's gateway address (the aggregator itself listens on loopback);
 * - the provider container, created per start by the container broker (local/container-broker.ts)
 *   when the sidecar's lifecycle asks for it (lazy start, idle stop, restart).
 *
 * Everything carries the labels `mcp.hangar.provider=<name>` and `mcp.hangar.up=<key>` (key:
 * local/plan.ts planKey of the config file and provider), so a later `up` of the same config
 * removes what a crashed one left behind, and {@link ContainerProviderStack.stop} removes it all.
 */
import { execFileSync } from 'node:child_process'
import { chownSync, mkdirSync, readFileSync } from 'node:fs'
import { createServer, connect, type Server } from 'node:net'
import { isAbsolute, join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { createInterface } from 'node:readline'
import type Dockerode from 'dockerode'
import type { ProviderConfig } from '../config/schema.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { proxyEnv } from '../core/proxy-env.js'
import type { Logger } from '../core/log.js'
import { CONTAINER_DATA_DIR, containerListeners, containerProxy } from '../sidecar/container-config.js'
import { pickInternalSubnet, parseIpv4Cidr, subnetAround, type InternalSubnet, type Ipv4Net } from '../sidecar/subnet.js'
import { userSteering } from './effective-config.js'
import { ContainerBroker, memoryBytes } from './container-broker.js'

/** uid:gid of the sidecar image's user (images/Dockerfile.sidecar). */
export const SIDECAR_UID = 65532
/** Where the broker socket appears inside the sidecar container. */
export const BROKER_SOCKET_IN_SIDECAR = '/run/hangar/broker.sock'
/** The sidecar's MCP ingress port inside its container. */
export const SIDECAR_INGRESS_PORT = 8080
const LABEL_UP = 'mcp.hangar.up'
const LABEL_PROVIDER = 'mcp.hangar.provider'

/** Options of {@link ContainerProviderStack}. */
export interface ContainerProviderOptions {
  name: string
  /** The provider's validated config. */
  provider: ProviderConfig
  /** local/plan.ts planKey(config path, provider). */
  key: string
  docker: Dockerode
  sidecarImage: string
  /** The seccomp profile's path (security/seccomp/mcp-provider.json). */
  seccompPath: string
  /** The aggregator's URL as `up` runs it (loopback). */
  aggregatorUrl: string
  /** Directory for the broker socket (0700, root). */
  runDir: string
  /** Host directory for the sidecar's data (pins, spool), mounted at /var/lib/mcp-hangar/<name>. */
  dataDir: string
  /** The sidecar's effective config for this provider, before the container addresses are set. */
  providerEffective: Record<string, unknown>
  aggregatorEffective: Record<string, unknown>
  /** Host address:port the MCP ingress is published on. */
  listen: string
  /** Directory relative `volumes` host paths are resolved from (the config file's). */
  baseDir: string
  /** Extra environment of the sidecar container (log level and format; its tokens are in its config). */
  sidecarEnv?: Record<string, string>
  log: Logger
  out?: NodeJS.WritableStream
  onFatal: (why: string) => void
}

/** What {@link ContainerProviderStack.start} reports for `up`'s summary. */
export interface ContainerProviderInfo {
  sidecarContainer: string
  internalNetwork: string
  subnet: string
  sidecarIp: string
}

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':')
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) }
}

/** Removes every container and network labelled `mcp.hangar.up=<key>` (a crashed run's leftovers). */
export async function removeLeftovers(docker: Dockerode, key: string): Promise<number> {
  const filters = JSON.stringify({ label: [`${LABEL_UP}=${key}`] })
  let n = 0
  for (const c of await docker.listContainers({ all: true, filters })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)
    n++
  }
  for (const net of await docker.listNetworks({ filters })) {
    await docker.getNetwork(net.Id).remove().catch(() => undefined)
    n++
  }
  return n
}

/** Synchronous best effort (for an exit without stop()): `docker rm -f` and `docker network rm` of the key's objects through the docker CLI. */
export function removeLabelledNow(key: string): void {
  const run = (args: string[]) => {
    try {
      return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).split('\n').filter(Boolean)
    } catch {
      return []
    }
  }
  const containers = run(['ps', '-aq', '--filter', `label=${LABEL_UP}=${key}`])
  if (containers.length) run(['rm', '-f', ...containers])
  const networks = run(['network', 'ls', '-q', '--filter', `label=${LABEL_UP}=${key}`])
  if (networks.length) run(['network', 'rm', ...networks])
}

/** IPv4 subnets of every Docker network, to pick an internal /28 that overlaps none. */
async function takenDockerSubnets(docker: Dockerode): Promise<Ipv4Net[]> {
  const out: Ipv4Net[] = []
  for (const n of await docker.listNetworks()) {
    for (const c of n.IPAM?.Config ?? []) {
      try {
        if (c.Subnet) out.push(parseIpv4Cidr(c.Subnet))
      } catch {
        // IPv6
      }
    }
  }
  return out
}

/** The provider and its sidecar as containers (see the file comment). */
export class ContainerProviderStack {
  readonly #o: ContainerProviderOptions
  #broker: ContainerBroker | undefined
  #relay: Server | undefined
  #sidecar: Dockerode.Container | undefined
  #networks: Dockerode.Network[] = []
  #watch: NodeJS.Timeout | undefined
  #stopping = false

  constructor(o: ContainerProviderOptions) {
    this.#o = o
  }

  /** The key its containers and networks are labelled with (`mcp.hangar.up=<key>`). */
  get key(): string {
    return this.#o.key
  }

  get #labels(): Record<string, string> {
    return { [LABEL_UP]: this.#o.key, [LABEL_PROVIDER]: this.#o.name }
  }

  /**
   * Builds the networks, the broker, the relay and the sidecar container, and waits until the
   * sidecar is ready (its Docker healthcheck: admin /ready).
   * @throws HangarError `HANGAR_UP_FAILED` naming what failed (the caller then calls stop()).
   */
  async start(readyTimeoutMs: number): Promise<ContainerProviderInfo> {
    const { docker, name, key, provider: p, log } = this.#o
    if (process.getuid?.() !== 0) {
      throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}: mode "container" under \`mcp-hangar up\` needs root, to hand the broker socket and the data directory to the sidecar container's user (uid ${SIDECAR_UID}); run up as root, or use \`mcp-hangar compose inject\``)
    }
    try {
      await docker.ping()
    } catch (err) {
      throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}: mode "container" needs a Docker engine, and none answers (${(err as Error).message})`)
    }
    for (const img of [this.#o.sidecarImage, p.image!]) {
      try {
        await docker.getImage(img).inspect()
      } catch {
        throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}: image ${img} is not on this machine${img === this.#o.sidecarImage ? ' (build it: mcp-hangar images build)' : ' (pull or build it first)'}`)
      }
    }
    for (const u of p.sidecar.upstream_dns) {
      if (/^(127\.|\[::1\])/.test(u)) {
        throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}.sidecar.upstream_dns: ${u} is this host's loopback, which the sidecar's container cannot reach; give an address of a host interface, or "system"`)
      }
    }
    const removed = await removeLeftovers(docker, key)
    if (removed) log.info({ provider: name, removed }, 'removed containers and networks a previous run left behind')

    let net: InternalSubnet
    const steering = userSteering(p)
    try {
      net = steering ? subnetAround(steering) : pickInternalSubnet(`up/${key}`, await takenDockerSubnets(docker))
    } catch (err) {
      throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}.sidecar.address: ${(err as Error).message}`)
    }
    const internalName = `hangar-${key}-internal`
    const internal = await docker.createNetwork({
      Name: internalName, Driver: 'bridge', Internal: true, CheckDuplicate: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: net.subnet, IPRange: net.ipRange, Gateway: net.gateway }] },
      Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true', 'com.docker.network.bridge.name': `hgc${key}` },
      Labels: { ...this.#labels, 'mcp.hangar.role': 'internal' },
    })
    this.#networks.push(internal)
    const egress = await docker.createNetwork({
      Name: `hangar-${key}-egress`, Driver: 'bridge', CheckDuplicate: true,
      Options: { 'com.docker.network.bridge.name': `hge${key}` },
      Labels: { ...this.#labels, 'mcp.hangar.role': 'egress' },
    })
    this.#networks.push(egress)
    const egressInfo = (await egress.inspect()) as { IPAM: { Config: Array<{ Gateway?: string }> } }
    const gateway = egressInfo.IPAM.Config[0]?.Gateway
    if (!gateway) throw new HangarError(ERROR_CODES.UP_FAILED, `providers.${name}: Docker gave the egress network no gateway address`)

    // The aggregator listens on loopback; the sidecar container reaches it at the egress gateway.
    const agg = new URL(this.#o.aggregatorUrl)
    const aggPort = Number(agg.port || 80)
    this.#relay = createServer((sock) => {
      const up = connect({ host: agg.hostname.replace(/^\[|\]$/g, ''), port: aggPort })
      sock.pipe(up).pipe(sock)
      sock.on('error', () => up.destroy())
      up.on('error', () => sock.destroy())
    })
    await new Promise<void>((res, rej) => {
      this.#relay!.once('error', rej)
      this.#relay!.listen(aggPort, gateway, () => res())
    })

    // The broker: provider containers on demand.
    const seccomp = JSON.stringify(JSON.parse(readFileSync(this.#o.seccompPath, 'utf8')))
    const socketPath = join(this.#o.runDir, `${name}.broker.sock`)
    this.#broker = new ContainerBroker({
      socketPath, owner: { uid: SIDECAR_UID, gid: SIDECAR_UID }, docker, log,
      spec: {
        namePrefix: `hangar-${key}-provider`,
        image: p.image!,
        ...(p.command && { cmd: [...p.command] }),
        env: { ...p.env, ...proxyEnv(containerProxy(net.sidecar)) },
        binds: p.volumes.map((v) => {
          const [host, ...rest] = v.split(':')
          return [isAbsolute(host!) ? host : resolve(this.#o.baseDir, host!), ...rest].join(':')
        }),
        memoryBytes: memoryBytes(p.resources.memory),
        nanoCpus: p.resources.cpu ? Math.round(p.resources.cpu * 1e9) : 0,
        readOnly: p.read_only,
        user: p.user === 'image' ? '' : p.user,
        network: internalName,
        dns: net.sidecar,
        seccomp,
        labels: { ...this.#labels, 'mcp.hangar.role': 'provider' },
        stopTimeoutS: Math.ceil(p.shutdown_timeout_ms / 1000),
      },
    })
    await this.#broker.start()

    // The sidecar container.
    mkdirSync(this.#o.dataDir, { recursive: true })
    chownSync(this.#o.dataDir, SIDECAR_UID, SIDECAR_UID)
    const ip = net.sidecar
    const sidecarProvider = {
      ...this.#o.providerEffective,
      mode: 'container',
      broker_socket: BROKER_SOCKET_IN_SIDECAR,
      listen: `0.0.0.0:${SIDECAR_INGRESS_PORT}`,
      sidecar: { ...(this.#o.providerEffective.sidecar as Record<string, unknown>), ...containerListeners(ip, name) },
    }
    const config = {
      aggregator: { ...this.#o.aggregatorEffective, url: `http://${gateway}:${aggPort}` },
      providers: { [name]: sidecarProvider },
    }
    const { host, port } = splitHostPort(this.#o.listen)
    const sidecarName = `hangar-${key}-sidecar`
    const c = await docker.createContainer({
      name: sidecarName,
      Image: this.#o.sidecarImage,
      Cmd: ['sidecar', '-c', 'env:HANGAR_CONFIG', '--provider', name, '--isolation', 'container'],
      Env: [`HANGAR_CONFIG=${JSON.stringify(config)}`, ...Object.entries(this.#o.sidecarEnv ?? {}).map(([k, v]) => `${k}=${v}`)],
      Labels: { ...this.#labels, 'mcp.hangar.role': 'sidecar' },
      ExposedPorts: { [`${SIDECAR_INGRESS_PORT}/tcp`]: {} },
      Healthcheck: {
        Test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:9901/ready').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"],
        Interval: 1e9, Timeout: 3e9, Retries: 3, StartPeriod: 60e9,
      },
      HostConfig: {
        NetworkMode: internalName,
        PortBindings: { [`${SIDECAR_INGRESS_PORT}/tcp`]: [{ HostIp: host, HostPort: String(port) }] },
        Binds: [`${socketPath}:${BROKER_SOCKET_IN_SIDECAR}`, `${this.#o.dataDir}:${CONTAINER_DATA_DIR}/${name}`],
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true', `seccomp=${seccomp}`],
        Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
      },
      NetworkingConfig: { EndpointsConfig: { [internalName]: { IPAMConfig: { IPv4Address: ip } } } },
    })
    this.#sidecar = c
    await egress.connect({ Container: c.id })
    await c.start()
    void this.#follow(c)
    await this.#ready(c, readyTimeoutMs)
    this.#watch = setInterval(() => void this.#check(), 2000)
    this.#watch.unref()
    return { sidecarContainer: sidecarName, internalNetwork: internalName, subnet: net.subnet, sidecarIp: ip }
  }

  async #ready(c: Dockerode.Container, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const s = (await c.inspect()).State as { Status: string; Health?: { Status: string } }
      if (s.Health?.Status === 'healthy') return
      if (s.Status === 'exited' || s.Status === 'dead') throw new HangarError(ERROR_CODES.UP_FAILED, `the sidecar of ${this.#o.name} exited before it was ready (see its [${this.#o.name}] lines above)`)
      if (Date.now() > until) throw new HangarError(ERROR_CODES.UP_FAILED, `the sidecar of ${this.#o.name} was not ready within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  async #follow(c: Dockerode.Container): Promise<void> {
    try {
      const stream = (await c.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream
      const out = this.#o.out ?? process.stderr
      const pass = new PassThrough()
      this.#o.docker.modem.demuxStream(stream, pass, pass)
      createInterface({ input: pass }).on('line', (line) => out.write(`[${this.#o.name}] ${line}\n`))
    } catch {
      // logs are a convenience
    }
  }

  async #check(): Promise<void> {
    if (this.#stopping || !this.#sidecar) return
    try {
      const s = (await this.#sidecar.inspect()).State as { Status: string; Restarting: boolean; ExitCode: number }
      if ((s.Status === 'exited' || s.Status === 'dead') && !s.Restarting) {
        clearInterval(this.#watch)
        this.#o.onFatal(`the sidecar container of ${this.#o.name} stopped (exit code ${s.ExitCode}) after Docker's restarts`)
      }
    } catch (err) {
      if (!this.#stopping) this.#o.onFatal(`the sidecar container of ${this.#o.name} is gone (${(err as Error).message})`)
    }
  }

  /** Stops the sidecar (it ships its last signals; the broker then removes the provider), the broker, the relay; removes the containers and networks. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    clearInterval(this.#watch)
    if (this.#sidecar) {
      await this.#sidecar.stop({ t: 15 }).catch(() => undefined)
      await this.#sidecar.remove({ force: true }).catch(() => undefined)
    }
    await this.#broker?.stop()
    await new Promise<void>((r) => (this.#relay ? this.#relay.close(() => r()) : r()))
    // Never rejects: stop() runs after a failed start too (no engine answering), and its caller
    // must still stop everything else and report the start's own error.
    await removeLeftovers(this.#o.docker, this.#o.key).catch((err: Error) =>
      this.#o.log.warn({ err: err.message }, 'could not list containers to remove; a later run removes what is left'))
    for (const n of this.#networks) await n.remove().catch(() => undefined)
  }
}

