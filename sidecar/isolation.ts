/**
 * Which isolation `mcp-hangar up` can give on this machine: `netns` needs root, `ip` (iproute2)
 * with `ip netns`, `nft` (nftables), `setpriv` (util-linux, to run the provider as its own
 * unprivileged uid) and `bwrap` (bubblewrap, its private process and file view); without any of
 * them `up` runs in `cooperative` mode and says why. And the sink wrapper that marks every signal of a sidecar with its isolation.
 */
import { execFileSync } from 'node:child_process'
import type { Signal, Isolation } from '../signals/types.js'
import type { SignalSink } from '../signals/sink.js'

export type IsolationCheck = { mode: 'netns' } | { mode: 'cooperative'; why: string }

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

/** Probes the machine (runs `ip netns list`, `nft --version`, `setpriv --version`, `bwrap --version`). */
export function detectIsolation(uid = process.getuid?.()): IsolationCheck {
  if (uid !== 0) return { mode: 'cooperative', why: 'not running as root (network namespaces and nftables need root)' }
  if (!has('ip', ['netns', 'list'])) return { mode: 'cooperative', why: 'the `ip` command (iproute2) is missing or cannot list network namespaces' }
  if (!has('nft', ['--version'])) return { mode: 'cooperative', why: 'the `nft` command (nftables) is missing' }
  if (!has('setpriv', ['--version'])) return { mode: 'cooperative', why: 'the `setpriv` command (util-linux) is missing' }
  if (!has('bwrap', ['--version'])) return { mode: 'cooperative', why: 'bubblewrap (`bwrap`) is missing, so providers cannot get a private process and file view (Debian: apt-get install bubblewrap)' }
  return { mode: 'netns' }
}

/** A sink that sets `isolation` on every signal before passing it on. */
export class IsolationMarkingSink implements SignalSink {
  constructor(
    private readonly inner: SignalSink,
    private readonly isolation: Isolation,
  ) {}

  emit(signal: Signal): void {
    signal.isolation = this.isolation
    this.inner.emit(signal)
  }

  flush(): Promise<void> {
    return this.inner.flush()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

/**
 * The argv prefix that runs a provider command inside its namespace as `user` (a name or uid;
 * group: the user's primary group, or `user:group`), with no capabilities and `no_new_privs`
 * (`ip netns exec` also bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf).
 */
export function netnsWrap(netns: string, user: string): string[] {
  const [u, g] = user.split(':') as [string, string | undefined]
  return [
    'ip', 'netns', 'exec', netns,
    'setpriv', `--reuid=${u}`, g ? `--regid=${g}` : `--regid=${primaryGroup(u)}`, g ? '--clear-groups' : '--init-groups',
    '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--',
  ]
}

/** The primary group of a user (`id -gn`), or `nogroup` when it cannot be told. */
function primaryGroup(user: string): string {
  try {
    return execFileSync('id', ['-g', user], { encoding: 'utf8', timeout: 5000 }).trim()
  } catch {
    return 'nogroup'
  }
}
