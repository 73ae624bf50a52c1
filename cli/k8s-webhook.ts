/**
 * `mcp-hangar k8s webhook --tls-cert F --tls-key F [--listen :8443] [--sidecar-image IMG]
 * [--aggregator-url URL] [--signal-token-secret NAME]`: the sidecar injection admission webhook
 * (k8s/webhook.ts serving k8s/admission.ts). Composition only. Runs until SIGTERM or SIGINT, then
 * stops accepting, lets requests in flight finish and exits 0.
 *
 * Exit 2 with a message, before anything listens: an unreadable certificate or key, a pair that
 * does not load, a bad `--listen`, an `--aggregator-url` that is not http(s), an empty
 * `--sidecar-image`; or the address cannot be bound.
 */
import type { Command } from 'commander'
import { listenAddress, splitListen } from '../config/schema.js'
import { readEnv } from '../core/env.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { createLogger, type Logger } from '../core/log.js'
import { startWebhook } from '../k8s/webhook.js'
import { DEFAULT_SIDECAR_IMAGE } from '../sidecar/images.js'
import { untilSignal } from './run.js'

/** Options of `k8s webhook`, as commander gives them. */
export interface K8sWebhookCommand {
  tlsCert: string
  tlsKey: string
  listen: string
  sidecarImage: string
  aggregatorUrl: string
  signalTokenSecret: string
}

/**
 * `--listen`: `host:port`, `[v6]:port`, or `:port` for every IPv4 address (`0.0.0.0`; an
 * IPv6-only cluster passes `[::]:port`). Port 0 picks a free one (tests).
 * @throws HangarError `HANGAR_USAGE` naming the flag and the expected form.
 */
export function parseListenFlag(value: string): { host: string; port: number } {
  const full = value.startsWith(':') ? `0.0.0.0${value}` : value
  if (!listenAddress.safeParse(full).success) throw new HangarError(ERROR_CODES.USAGE, `--listen: expected host:port or :port with a port 0-65535 (e.g. :8443, 0.0.0.0:8443, [::]:8443), got "${value}"`)
  return splitListen(full)
}

/**
 * Checks the options, starts the webhook and waits for SIGTERM/SIGINT.
 * @throws HangarError `HANGAR_USAGE` (bad option, unreadable or unusable certificate/key),
 *   `HANGAR_LISTEN_FAILED`.
 */
export async function runK8sWebhook(cmd: K8sWebhookCommand, log: Logger): Promise<void> {
  const { host, port } = parseListenFlag(cmd.listen)
  let url: URL | undefined
  try {
    url = new URL(cmd.aggregatorUrl)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new HangarError(ERROR_CODES.USAGE, `--aggregator-url: expected an http(s) URL, got "${cmd.aggregatorUrl}"`)
  if (!cmd.sidecarImage.trim()) throw new HangarError(ERROR_CODES.USAGE, '--sidecar-image: expected an image reference, got an empty string')
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(cmd.signalTokenSecret)) throw new HangarError(ERROR_CODES.USAGE, `--signal-token-secret: expected a Secret name (lowercase DNS subdomain), got "${cmd.signalTokenSecret}"`)
  const webhook = await startWebhook({
    certFile: cmd.tlsCert, keyFile: cmd.tlsKey, host, port, log,
    inject: { sidecarImage: cmd.sidecarImage, aggregatorUrl: cmd.aggregatorUrl, signalTokenSecret: cmd.signalTokenSecret },
  })
  await untilSignal(log, () => webhook.close())
  log.info('admission webhook stopped')
}

/** Adds `webhook` to the given `k8s` command; `defaults.aggregatorUrl` is the one `k8s inject` uses. */
export function k8sWebhookCommand(k8s: Command, defaults: { aggregatorUrl: string }): Command {
  return k8s
    .command('webhook')
    .description('run the mutating admission webhook (HTTPS) that injects the sidecar into pods annotated mcp.hangar.io/inject="true" at creation')
    .requiredOption('--tls-cert <file>', 'PEM serving certificate (chain) for the webhook Service name; re-read when it changes')
    .requiredOption('--tls-key <file>', 'PEM private key of the certificate; re-read when it changes')
    .option('--listen <addr>', 'address to listen on: host:port, or :port for all IPv4 addresses', ':8443')
    .option('--sidecar-image <image>', 'image of the sidecar and init containers', DEFAULT_SIDECAR_IMAGE)
    .option('--aggregator-url <url>', 'aggregator the sidecars send signals to (a pod can override it: mcp.hangar.io/aggregator)', defaults.aggregatorUrl)
    .option('--signal-token-secret <name>', "Secret (in the pod's namespace) whose key token is the signal token", 'mcp-hangar-signal-token')
    .action(async (o: K8sWebhookCommand) => {
      const env = readEnv()
      const log = createLogger({ level: env.logLevel, json: env.jsonLogs, name: 'k8s-webhook' })
      await runK8sWebhook(o, log)
    })
}
