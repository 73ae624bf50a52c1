/**
 * security/nftables/hangar-bridge.sh (docs/compose.md §Security files), as root: on a bridge of our own with a
 * "provider" network namespace attached, a TCP service of the host on the bridge's address is
 * reachable before `add`, unreachable after it (and the drop is counted), reachable again after
 * `remove`; traffic between two ports of the same bridge still flows. And the AppArmor profile
 * parses with the real apparmor_parser (this kernel has no AppArmor, so it is not loaded).
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { netnsSkip } from '../helpers/netns.js'

const root = new URL('../../', import.meta.url).pathname
const SCRIPT = join(root, 'security/nftables/hangar-bridge.sh')
const APPARMOR = join(root, 'security/apparmor/mcp-hangar-provider')
const skip = netnsSkip()

const execFileP = promisify(execFile)
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

t.test('the ruleset checks with nft -c', { skip }, async (t) => {
  const rules = sh('bash', [SCRIPT, 'print', 'br-abc123'])
  t.match(rules, /table inet hangar_bridge_br_abc123/)
  const r = spawnSync('nft', ['-c', '-f', '-'], { input: rules, encoding: 'utf8' })
  t.equal(r.status, 0, `nft -c accepts it ${r.stderr}`)
  const bad = spawnSync('bash', [SCRIPT, 'add', 'bad name; rm -rf /'], { encoding: 'utf8' })
  t.equal(bad.status, 2, 'a bridge name that is not an interface name is refused')
  t.match(bad.stderr, /not an interface name/)
})

t.test('host input from the bridge: open, closed by add, open again after remove', { skip }, async (t) => {
  const id = randomBytes(3).toString('hex')
  const br = `hgtb${id}`
  const ns1 = `hgtn1${id}`
  const ns2 = `hgtn2${id}`
  const octet = 100 + (parseInt(id.slice(0, 2), 16) % 100)
  const hostIp = `10.252.${octet}.1`
  const ip1 = `10.252.${octet}.2`
  const ip2 = `10.252.${octet}.3`
  t.teardown(() => {
    spawnSync('bash', [SCRIPT, 'remove', br])
    for (const n of [ns1, ns2]) spawnSync('ip', ['netns', 'del', n])
    spawnSync('ip', ['link', 'del', br])
  })
  sh('ip', ['link', 'add', br, 'type', 'bridge'])
  sh('ip', ['addr', 'add', `${hostIp}/24`, 'dev', br])
  sh('ip', ['link', 'set', br, 'up'])
  // The script is for Docker's bridges, whose own traffic Docker accepts in iptables FORWARD
  // (`-i br -o br -j ACCEPT`). This test's bridge is not Docker's: once dockerd has run, the
  // FORWARD policy is DROP and br_netfilter (bridge-nf-call-iptables=1, global, which a per-bridge
  // nf_call_iptables=0 cannot undo) sends bridged frames through it, so the test accepts its
  // bridge's own traffic the way Docker does for a bridge of its own, and removes the rule after.
  const dockerLike = ['FORWARD', '-i', br, '-o', br, '-j', 'ACCEPT']
  const hasIptables = spawnSync('iptables', ['-w', '-S', 'FORWARD']).status === 0
  if (hasIptables) {
    sh('iptables', ['-w', '-I', ...dockerLike])
    t.teardown(() => { spawnSync('iptables', ['-w', '-D', ...dockerLike]) })
  }
  for (const [ns, ip, n] of [[ns1, ip1, '1'], [ns2, ip2, '2']] as const) {
    sh('ip', ['netns', 'add', ns])
    sh('ip', ['link', 'add', `hgtv${n}${id}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    sh('ip', ['link', 'set', `hgtv${n}${id}`, 'master', br, 'up'])
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  }
  const server = createServer((s) => s.end('host\n'))
  await new Promise<void>((r) => server.listen(0, hostIp, () => r()))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  // a "sidecar" in ns2: a TCP listener the "provider" in ns1 reaches across the bridge
  const sidecar = spawn('ip', ['netns', 'exec', ns2, process.execPath, '-e', `require('net').createServer(s=>s.end('peer\\n')).listen(7000,'${ip2}',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => sidecar.kill('SIGKILL'))
  await new Promise<void>((r) => sidecar.stdout!.once('data', () => r()))

  // asynchronous: the host service lives in this process, whose event loop must keep running
  const probe = async (host: string, p: number) => (await execFileP('ip', ['netns', 'exec', ns1, process.execPath, '-e', `const s=require('net').connect({host:'${host}',port:${p}});const t=setTimeout(()=>{console.log('timeout');process.exit(0)},1500);s.on('data',d=>{console.log('got '+String(d).trim());process.exit(0)});s.on('error',e=>{clearTimeout(t);console.log('error '+e.code);process.exit(0)})`], { encoding: 'utf8' })).stdout.trim()

  t.equal(await probe(hostIp, port), 'got host', 'before: the host service on the bridge address answers')
  t.match(sh('bash', [SCRIPT, 'add', br]), /added table/)
  t.equal(await probe(hostIp, port), 'timeout', 'after add: the host is unreachable from the bridge')
  t.equal(await probe(ip2, 7000), 'got peer', 'after add: the neighbour on the same bridge (the sidecar) still answers')
  const table = sh('nft', ['list', 'table', 'inet', `hangar_bridge_${br}`])
  t.match(table, /iifname "[^"]+" counter packets [1-9]\d* bytes \d+ drop/, 'the drop was counted')
  t.match(sh('bash', [SCRIPT, 'add', br]), /added table/, 'add twice replaces, does not stack')
  t.equal(sh('nft', ['list', 'tables']).split('\n').filter((l) => l.includes(`hangar_bridge_${br}`)).length, 1)
  t.match(sh('bash', [SCRIPT, 'remove', br]), /removed table/)
  t.equal(await probe(hostIp, port), 'got host', 'after remove: open again')
})

const parser = spawnSync('sh', ['-c', 'command -v apparmor_parser'], { encoding: 'utf8' }).stdout.trim()
if (!parser && process.env.CI === 'true') t.fail('apparmor_parser is missing (CI installs the Debian package apparmor)')

t.test('the AppArmor profile parses', { skip: parser ? false : 'apparmor_parser is not installed (Debian package apparmor)' }, async (t) => {
  // -Q: parse and compile, do not load (this kernel has no AppArmor); -K: no cache.
  const r = spawnSync(parser, ['-Q', '-K', APPARMOR], { encoding: 'utf8' })
  t.equal(r.status, 0, `apparmor_parser accepts it ${r.stderr}`)
  const broken = spawnSync(parser, ['-Q', '-K', '/dev/stdin'], { input: 'profile x {\n  network bogus,\n}\n', encoding: 'utf8' })
  t.not(broken.status, 0, 'and the parser does reject a broken profile (the check can fail)')
})
