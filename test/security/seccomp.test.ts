/**
 * security/seccomp/mcp-provider.json on a real Docker engine (docs/compose.md §Security files): real MCP servers
 * work under it (mcp-fetch-server on Node from npm, and a Python stdio MCP server that exercises
 * asyncio, threads, sockets, getaddrinfo, temp files and a child process), driven by the MCP SDK
 * client over `docker run -i`; and the syscalls it exists to refuse are refused inside the
 * container (EPERM, or ENOSYS where a fallback is wanted), while the same calls without it get
 * past seccomp (so it is this profile, not the dropped capabilities, that stops them).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { dockerSkip } from '../helpers/docker.js'
import { textOf } from '../helpers/mcp.js'
// @ts-expect-error plain ES module without types
import { EXAMPLE_FETCH_IMAGE, buildPythonBase, ensureImages } from '../../compose/build-images.mjs'

const root = new URL('../../', import.meta.url).pathname
const SECCOMP = join(root, 'security/seccomp/mcp-provider.json')
const PY_SERVER = join(root, 'test/fixtures/mcp/py_server.py')
const skip = dockerSkip()
t.setTimeout(400_000)

t.test('the profile is well-formed', async (t) => {
  const p = JSON.parse(readFileSync(SECCOMP, 'utf8')) as { defaultAction: string; syscalls: Array<{ names: string[]; action: string; errnoRet?: number }> }
  t.equal(p.defaultAction, 'SCMP_ACT_ERRNO', 'deny by default')
  const allowed = new Set(p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names))
  for (const bad of ['mount', 'umount2', 'unshare', 'setns', 'ptrace', 'bpf', 'keyctl', 'add_key', 'perf_event_open', 'userfaultfd', 'init_module', 'finit_module', 'kexec_load', 'reboot', 'settimeofday', 'clock_settime', 'setuid', 'setgid', 'chroot', 'pivot_root', 'process_vm_writev', 'open_by_handle_at', 'io_uring_setup']) {
    t.notOk(allowed.has(bad), `${bad} is not allowed`)
  }
  t.ok(p.syscalls.some((s) => s.names.includes('clone3') && s.errnoRet === 38), 'clone3 → ENOSYS (glibc falls back to clone)')
})

const HARDENED = (extra: string[] = []) => ['run', '-i', '--rm', '--network', 'none', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '--read-only', '--tmpfs', '/tmp', '--user', '65534:65534', '--pids-limit', '256', ...extra]

async function connect(args: string[]): Promise<Client> {
  const client = new Client({ name: 'seccomp-test', version: '1.0.0' })
  await client.connect(new StdioClientTransport({ command: 'docker', args, stderr: 'pipe' }))
  return client
}

t.test('real MCP servers run under the profile; forbidden syscalls are refused', { skip }, async (t) => {
  ensureImages({ examples: true })
  const py = buildPythonBase() as string

  await t.test('Node: mcp-fetch-server (npm) over stdio', async (t) => {
    const client = await connect([...HARDENED(['--security-opt', `seccomp=${SECCOMP}`]), EXAMPLE_FETCH_IMAGE as string, 'node', '/app/node_modules/mcp-fetch-server/dist/index.js'])
    t.teardown(() => client.close())
    const names = (await client.listTools()).tools.map((x) => x.name)
    t.ok(names.includes('fetch_txt'), `tools/list answered (${names.length} tools)`)
    const r = await client.callTool({ name: 'fetch_txt', arguments: { url: 'http://127.0.0.1:9/' } })
    t.ok(r.isError, 'a fetch with no network is a tool error, not a crash')
    t.ok((await client.listTools()).tools.length === names.length, 'the server is still up')
  })

  await t.test('Python: a stdio MCP server doing real work', async (t) => {
    const client = await connect([...HARDENED(['--security-opt', `seccomp=${SECCOMP}`, '-v', `${PY_SERVER}:/srv/py_server.py:ro`]), py, 'python3', '/srv/py_server.py'])
    t.teardown(() => client.close())
    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })), 'hi')
    const work = JSON.parse(textOf(await client.callTool({ name: 'work', arguments: {} }))) as Record<string, unknown>
    t.same(work, { threads: 328350, getaddrinfo: work.getaddrinfo, socketpair: 'ping', tcp: 'tcp', tempfile: 'temp', subprocess: '42', cpu_count: work.cpu_count }, 'threads, sockets, temp file and a child process all worked')
    t.ok(Array.isArray(work.getaddrinfo) && (work.getaddrinfo as string[]).length > 0, 'getaddrinfo answered')
  })

  await t.test('attacks: each syscall is refused by the profile', async (t) => {
    const ours = await connect([...HARDENED(['--security-opt', `seccomp=${SECCOMP}`, '-v', `${PY_SERVER}:/srv/py_server.py:ro`]), py, 'python3', '/srv/py_server.py'])
    const open = await connect([...HARDENED(['--security-opt', 'seccomp=unconfined', '-v', `${PY_SERVER}:/srv/py_server.py:ro`]), py, 'python3', '/srv/py_server.py'])
    t.teardown(async () => {
      await ours.close()
      await open.close()
    })
    const call = async (c: Client, name: string) => JSON.parse(textOf(await c.callTool({ name: 'syscall', arguments: { name } }))) as { result: number; errno: string | null }
    const expected: Record<string, string> = {
      unshare: 'EPERM', mount: 'EPERM', ptrace: 'EPERM', bpf: 'EPERM', keyctl: 'EPERM', personality: 'EPERM', userfaultfd: 'EPERM',
      setuid: 'EPERM', socket_packet: 'EPERM', setns: 'EPERM', chroot: 'EPERM', io_uring_setup: 'ENOSYS', clone3: 'ENOSYS',
    }
    for (const [name, errno] of Object.entries(expected)) {
      const r = await call(ours, name)
      t.match(r, { result: -1, errno }, `${name} → ${errno}`)
    }
    // Without the profile (same dropped capabilities), these reach the kernel: the profile is what stops them.
    for (const name of ['keyctl', 'personality', 'io_uring_setup']) {
      const r = await call(open, name)
      t.ok(r.errno !== 'EPERM' && r.errno !== 'ENOSYS', `unconfined, ${name} gets past seccomp (${r.errno ?? `returned ${r.result}`})`)
    }
  })
})
