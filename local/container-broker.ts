/**
 * The container broker of `mcp-hangar up`: for one `mode: container` provider, a Unix
 * socket that the provider's sidecar (itself in a container, with the socket mounted) connects to
 * whenever its lifecycle starts the provider. Each connection is one provider container, created
 * through the Docker API (dockerode) from {@link ProviderContainerSpec}, attached to its stdio, and
 * removed when it exits or the connection closes. Frames: proxy/stdio/broker-protocol.ts.
 *
 * The Docker socket stays with `up` (root, not network-facing); the sidecar can only ask for this
 * one provider's container, with the spec `up` fixed at start.
 */
import { chmodSync, chownSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import type Dockerode from 'dockerode'
import type { Logger } from '../core/log.js'
import { FRAME, FrameDecoder, encodeFrame, type ContainerExitInfo } from '../proxy/stdio/broker-protocol.js'

/** How the provider container is made (fixed by `up` from the provider's config). */
export interface ProviderContainerSpec {
  /** Container name prefix; a counter is appended. */
  namePrefix: string
  image: string
  /** Overrides the image's command when set. */
  cmd?: string[]
  env: Record<string, string>
  /** Docker bind mounts, `host:container[:ro]`, host paths absolute. */
  binds: string[]
  /** Bytes; 0 = no limit. */
  memoryBytes: number
  /** CPUs × 1e9; 0 = no limit. */
  nanoCpus: number
  readOnly: boolean
  /** `uid[:gid]`; empty = the image's. */
  user: string
  /** The provider's internal network (its only one). */
  network: string
  /** The sidecar's address on it: the provider's DNS server. */
  dns: string
  /** The seccomp profile's JSON text (the Docker API takes the content, not a path). */
  seccomp: string
  labels: Record<string, string>
  /** Seconds between SIGTERM and SIGKILL when the connection drops. */
  stopTimeoutS: number
}

/** Options of {@link ContainerBroker}. */
export interface ContainerBrokerOptions {
  socketPath: string
  /** The uid:gid that may connect (the sidecar container's user). */
  owner: { uid: number; gid: number }
  docker: Dockerode
  spec: ProviderContainerSpec
  log: Logger
}

/** Converts a limit like `256m` to bytes (Docker's units: b, k, m, g, powers of 1024). */
export function memoryBytes(v: number | string | undefined): number {
  if (v === undefined) return 0
  if (typeof v === 'number') return v
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(v.trim())
  if (!m) throw new Error(`"${v}" is not a memory size`)
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g']
  return Math.round(Number(m[1]) * unit)
}

/** The Docker API body for one provider container. Pure. */
export function containerCreateOptions(spec: ProviderContainerSpec, name: string): Dockerode.ContainerCreateOptions {
  return {
    name,
    Image: spec.image,
    ...(spec.cmd && { Cmd: spec.cmd }),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    ...(spec.user && { User: spec.user }),
    Labels: spec.labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      NetworkMode: spec.network,
      Dns: [spec.dns],
      Binds: spec.binds,
      ...(spec.memoryBytes > 0 && { Memory: spec.memoryBytes }),
      ...(spec.nanoCpus > 0 && { NanoCpus: spec.nanoCpus }),
      ReadonlyRootfs: spec.readOnly,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true', `seccomp=${spec.seccomp}`],
      PidsLimit: 256,
      AutoRemove: false,
    },
  }
}

/** Serves the broker socket (see the file comment). */
export class ContainerBroker {
  readonly #o: ContainerBrokerOptions
  readonly #server: Server
  readonly #live = new Set<Dockerode.Container>()
  #seq = 0

  constructor(o: ContainerBrokerOptions) {
    this.#o = o
    this.#server = createServer((sock) => void this.#serve(sock))
  }

  /** Listens on the socket (replacing a stale one) and gives it to the sidecar's user. */
  async start(): Promise<void> {
    rmSync(this.#o.socketPath, { force: true })
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#o.socketPath, () => resolve())
    })
    chownSync(this.#o.socketPath, this.#o.owner.uid, this.#o.owner.gid)
    chmodSync(this.#o.socketPath, 0o600)
  }

  /** Stops accepting, kills and removes every container it made. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
    await Promise.all([...this.#live].map((c) => c.remove({ force: true }).catch(() => undefined)))
    this.#live.clear()
    rmSync(this.#o.socketPath, { force: true })
  }

  async #serve(sock: Socket): Promise<void> {
    const { docker, spec, log } = this.#o
    const name = `${spec.namePrefix}-${process.pid}-${++this.#seq}`
    let container: Dockerode.Container | undefined
    let finished = false
    const finish = (info: ContainerExitInfo): void => {
      if (finished) return
      finished = true
      if (!sock.destroyed) sock.end(encodeFrame(FRAME.exit, JSON.stringify(info)))
    }
    let lastSignal: string | undefined
    const frames = new FrameDecoder()
    let stdin: NodeJS.WritableStream | undefined
    const pendingStdin: Buffer[] = []
    let stdinEnded = false
    sock.on('data', (chunk: Buffer) => {
      let list
      try {
        list = frames.push(chunk)
      } catch (err) {
        log.warn({ container: name, err: (err as Error).message }, 'bad frame from the sidecar; closing')
        sock.destroy()
        return
      }
      for (const f of list) {
        if (f.type === FRAME.stdin) {
          if (stdin) stdin.write(f.payload)
          else pendingStdin.push(Buffer.from(f.payload))
        } else if (f.type === FRAME.stdinEnd) {
          stdinEnded = true
          stdin?.end()
        } else if (f.type === FRAME.signal) {
          lastSignal = f.payload.toString('utf8')
          container?.kill({ signal: lastSignal }).catch(() => undefined)
        }
      }
    })
    sock.on('error', () => undefined)
    sock.on('close', () => {
      // The sidecar is gone (stop, idle, crash): the container goes too.
      if (!container) return
      const c = container
      void c
        .stop({ t: spec.stopTimeoutS })
        .catch(() => undefined)
        .then(() => c.remove({ force: true }))
        .catch(() => undefined)
        .finally(() => this.#live.delete(c))
    })
    try {
      container = await docker.createContainer(containerCreateOptions(spec, name))
      this.#live.add(container)
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream
      const out = new PassThrough()
      const err = new PassThrough()
      out.on('data', (b: Buffer) => sock.destroyed || sock.write(encodeFrame(FRAME.stdout, b)))
      err.on('data', (b: Buffer) => sock.destroyed || sock.write(encodeFrame(FRAME.stderr, b)))
      docker.modem.demuxStream(stream, out, err)
      await container.start()
      stdin = stream
      for (const b of pendingStdin.splice(0)) stream.write(b)
      if (stdinEnded) stream.end()
      log.info({ container: name, image: spec.image }, 'provider container started')
      if (!sock.destroyed) sock.write(encodeFrame(FRAME.started, JSON.stringify({ id: container.id })))
      const result = (await container.wait()) as { StatusCode: number }
      log.info({ container: name, code: result.StatusCode }, 'provider container exited')
      finish({ code: result.StatusCode, ...(lastSignal && { signal: lastSignal }) })
      await container.remove({ force: true }).catch(() => undefined)
      this.#live.delete(container)
    } catch (e) {
      const message = (e as Error).message
      log.warn({ container: name, err: message }, 'provider container failed')
      finish({ code: null, error: `container ${spec.image}: ${message}` })
      if (container) {
        await container.remove({ force: true }).catch(() => undefined)
        this.#live.delete(container)
      }
    }
  }
}
