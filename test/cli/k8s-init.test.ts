/**
 * `mcp-hangar k8s init` as commander parses it: the flags reach the ruleset, `--print` prints it,
 * bad flag values are usage errors naming the flag. (Loading the rules for real is in
 * test/k8s/init.test.ts.)
 */
import t from 'tap'
import { Command, CommanderError } from 'commander'
import { k8sInitCommand } from '../../cli/k8s-init.js'
import { podRuleset } from '../../k8s/init-rules.js'

/** Parses `args` after `k8s init`; stdout, stderr and the exit code back. */
async function run(args: string[]): Promise<{ out: string; err: string; code: number | undefined; thrown?: CommanderError }> {
  const program = new Command().exitOverride()
  const k8s = program.command('k8s').exitOverride()
  k8sInitCommand(k8s).exitOverride().configureOutput({ writeErr: () => {} })
  let out = ''
  let err = ''
  const w = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
  process.stdout.write = ((c: string | Uint8Array) => { out += String(c); return true }) as typeof process.stdout.write
  process.stderr.write = ((c: string | Uint8Array) => { err += String(c); return true }) as typeof process.stderr.write
  const before = process.exitCode
  try {
    await program.parseAsync(['k8s', 'init', ...args], { from: 'user' })
    return { out, err, code: process.exitCode as number | undefined }
  } catch (e) {
    return { out, err, code: undefined, thrown: e as CommanderError }
  } finally {
    process.stdout.write = w.out
    process.stderr.write = w.err
    process.exitCode = before
  }
}

t.test('--print with port flags prints the ruleset those ports give', async (t) => {
  const r = await run(['--print', '--dns-port', '15053', '--http-port', 'off', '--tls-port', '15443', '--forward-port', '6379', '--forward-port', '5432', '--admin-port', '9000', '--sidecar-uid', '1337'])
  t.equal(r.code, 0, JSON.stringify({ err: r.err, thrown: r.thrown?.message }))
  t.equal(r.out, podRuleset({ dnsPort: 15053, httpPort: null, tlsPort: 15443, forwardPorts: [5432, 6379], adminPort: 9000, sidecarUid: 1337 }))
  const defaults = await run(['--print'])
  t.equal(defaults.out, podRuleset({ dnsPort: 53, httpPort: 80, tlsPort: 443, adminPort: 9901 }), 'the container sidecar defaults')
})

t.test('bad flag values are usage errors naming the flag; a bad combination exits 2', async (t) => {
  for (const [args, msg] of [
    [['--dns-port', '0'], /--dns-port: expected a port 1–65535, got "0"/],
    [['--forward-port', 'x'], /--forward-port: expected a port/],
    [['--admin-port', 'off'], /--admin-port: expected a port 1–65535, got "off"/],
    [['--sidecar-uid', '-5'], /--sidecar-uid: expected a uid/],
  ] as const) {
    const r = await run(['--print', ...args])
    t.equal(r.thrown?.code, 'commander.invalidArgument', args.join(' '))
    t.match(r.thrown?.message ?? '', msg)
    t.equal(r.out, '', 'nothing printed')
  }
  const both = await run(['--print', '-c', 'hangar.yaml', '-p', 'db', '--dns-port', '53'])
  t.equal(both.code, 2)
  t.match(both.err, /port flags \(dnsPort\) and -c\/--provider are exclusive/)
  const clash = await run(['--print', '--forward-port', '443'])
  t.equal(clash.code, 2)
  t.match(clash.err, /forwardPorts\[0\]: tcp 443 is already redirected to tls/)
})
