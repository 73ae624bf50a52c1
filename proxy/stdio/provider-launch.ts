/**
 * Starting and stopping one provider process: the choice between a local process
 * (proxy/stdio/child.ts) and a container run by the container broker of `mcp-hangar up`
 * (proxy/stdio/container-child.ts), and the graceful shutdown of MCP "Lifecycle/Shutdown" (stdio).
 */
import type { Logger } from '../../core/log.js'
import { childEnvironment, spawnStdioChild, type ProviderChild } from './child.js'
import { ContainerChild } from './container-child.js'
import type { StdioLaunch } from './provider-types.js'

/** What {@link launchChild} needs besides the launch itself. */
export interface LaunchContext {
  /** Provider name (logs, errors). */
  name: string
  /** The sidecar's values of the inherited environment names (proxy/stdio/child.ts). */
  inheritedEnv?: Readonly<Record<string, string | undefined>>
  /** Longest stdout line, bytes; default the child's (16 MiB). */
  maxLineBytes?: number
  log?: Logger
}

/**
 * Starts one provider child: a {@link ContainerChild} when `launch.brokerSocket` is set, else a
 * local process with `launch.command` (no shell), the child environment (inherited names plus
 * `launch.env`), `cwd` and the `wrap` prefix.
 * @throws Error synchronously only for invalid spawn arguments (e.g. a NUL byte in argv); a spawn
 *   that fails later (ENOENT) is reported by the child's `exit` event
 */
export function launchChild(launch: StdioLaunch, ctx: LaunchContext): ProviderChild {
  if (launch.brokerSocket !== undefined) {
    return new ContainerChild({ name: ctx.name, socketPath: launch.brokerSocket, ...(ctx.maxLineBytes !== undefined && { maxLineBytes: ctx.maxLineBytes }), ...(ctx.log && { logger: ctx.log }) })
  }
  return spawnStdioChild({
    name: ctx.name,
    command: launch.command,
    env: childEnvironment(ctx.inheritedEnv ?? {}, launch.env),
    cwd: launch.cwd,
    wrap: launch.wrap,
    maxLineBytes: ctx.maxLineBytes,
    logger: ctx.log,
  })
}

/**
 * MCP stdio shutdown: close stdin, wait `stepMs`; SIGTERM, wait `stepMs`; SIGKILL, wait `stepMs`.
 * Resolves once the child exited (or after the last wait, logged). Never rejects.
 * @param stepMs each wait, ms (`shutdown_timeout_ms`)
 */
export async function shutdownChild(child: ProviderChild, stepMs: number, log: Logger): Promise<void> {
  child.closeStdin()
  if (await child.waitExit(stepMs)) return
  log.info({ pid: child.pid }, `provider did not exit within ${stepMs} ms of stdin closing; SIGTERM`)
  child.kill('SIGTERM')
  if (await child.waitExit(stepMs)) return
  log.warn({ pid: child.pid }, `provider did not exit within ${stepMs} ms of SIGTERM; SIGKILL`)
  child.kill('SIGKILL')
  if (!(await child.waitExit(stepMs))) log.error({ pid: child.pid }, 'provider did not exit after SIGKILL')
}
