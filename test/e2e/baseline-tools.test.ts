/**
 * Learn, suggest, enforce on the MCP side (docs/baseline.md), with real MCP servers from npm over stdio and
 * no root: server-filesystem and server-everything run in alert mode behind an in-process sidecar
 * with a baseline recorder; the workload lists the tools and calls a few; `suggestProfile` turns
 * the baseline into a profile; a new sidecar in block mode with that profile offers only the
 * tools the workload called, runs the same workload with zero violations, and refuses a tool
 * outside it with `tool_denied`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import t, { type Test } from 'tap'
import { BaselineRecorder } from '../../profiles/baseline/recorder.js'
import { parseBaseline } from '../../policy/baseline-schema.js'
import { suggestProfile } from '../../profiles/suggest.js'
import { connectClient, EVERYTHING, FILESYSTEM, startSidecar, textOf } from '../helpers/mcp.js'

const node = process.execPath

interface Case {
  name: string
  command: (dir: string) => string[]
  /** The workload: calls that must work in both modes (name, arguments, expected text). */
  calls: (dir: string) => Array<{ tool: string; args: Record<string, unknown>; expect: RegExp }>
  /** A tool the server offers that the workload never calls. */
  outside: { tool: string; args: (dir: string) => Record<string, unknown> }
}

const cases: Case[] = [
  {
    name: 'filesystem',
    command: (dir) => [node, FILESYSTEM, dir],
    calls: (dir) => [
      { tool: 'read_text_file', args: { path: join(dir, 'hello.txt') }, expect: /hello from the workload/ },
      { tool: 'list_directory', args: { path: dir }, expect: /hello\.txt/ },
    ],
    outside: { tool: 'write_file', args: (dir) => ({ path: join(dir, 'x.txt'), content: 'x' }) },
  },
  {
    name: 'everything',
    command: () => [node, EVERYTHING],
    calls: () => [
      { tool: 'echo', args: { message: 'learnt' }, expect: /learnt/ },
      { tool: 'get-sum', args: { a: 2, b: 3 }, expect: /5/ },
    ],
    outside: { tool: 'get-env', args: () => ({}) },
  },
]

async function run(t: Test, c: Case, dir: string, capabilities: Record<string, unknown>, baseline?: BaselineRecorder) {
  const rig = await startSidecar(c.name, { mode: 'subprocess', command: c.command(dir), capabilities }, baseline ? { baseline } : {})
  t.teardown(() => rig.stop())
  const client = await connectClient(rig.url)
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  const answers: string[] = []
  for (const call of c.calls(dir)) answers.push(textOf(await client.callTool({ name: call.tool, arguments: call.args })))
  return { rig, client, tools: tools.map((x) => x.name).sort(), answers }
}

for (const c of cases) {
  t.test(`${c.name}: alert-mode baseline → suggested profile → block mode`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `hangar-learn-${c.name}-`))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'hello.txt'), 'hello from the workload\n')
    const calls = c.calls(dir)

    const recorder = new BaselineRecorder({ provider: c.name, mode: 'alert' })
    const learn = await run(t, c, dir, { enforcement_mode: 'alert' }, recorder)
    calls.forEach((call, i) => t.match(learn.answers[i], call.expect, `alert mode: ${call.tool} works`))
    t.ok(learn.tools.includes(c.outside.tool), `alert mode offers ${c.outside.tool}`)
    const b = parseBaseline(recorder.snapshot())
    t.same(b.tools.filter((x) => x.calls > 0).map((x) => x.name).sort(), calls.map((x) => x.tool).sort(), 'the baseline has exactly the tools called')
    t.equal(b.tools.filter((x) => x.listed > 0).length, learn.tools.length, 'and every tool listed')
    for (const call of calls) t.same(b.tools.find((x) => x.name === call.tool)!.argument_keys, Object.keys(call.args).sort(), `argument keys of ${call.tool}`)

    const s = suggestProfile(b)
    t.same(s.profile.tools.allow_list, calls.map((x) => x.tool).sort(), 'allow_list: the tools the workload called')
    t.equal(s.profile.tools.expected_tools?.length, learn.tools.length, 'expected_tools: every tool offered')
    t.equal(Object.keys(s.profile.tools.pins).length, learn.tools.length, 'every tool pinned to the definition seen')
    t.equal(s.profile.enforcement_mode, 'block')

    const enforce = await run(t, c, dir, s.profile as unknown as Record<string, unknown>)
    calls.forEach((call, i) => t.match(enforce.answers[i], call.expect, `block mode: ${call.tool} still works`))
    t.same(enforce.tools, calls.map((x) => x.tool).sort(), 'block mode offers only the tools the workload called')
    t.same(enforce.rig.sink.signals.filter((x) => x.kind === 'violation').map((x) => `${x.type} ${x.tool}`), [], 'the same workload: zero violations (no undeclared tool, no drift)')
    const err = await enforce.client.callTool({ name: c.outside.tool, arguments: c.outside.args(dir) }).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof McpError && err.code === -32001, `${c.outside.tool}, outside the workload, is refused (-32001)`)
    t.ok(enforce.rig.sink.signals.some((x) => x.type === 'tool_denied' && x.tool === c.outside.tool && x.action === 'blocked'), 'and signalled as tool_denied')
  })
}
