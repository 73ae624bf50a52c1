#!/usr/bin/env node
/**
 * `npm start`: the whole quickstart in one command.
 *   1. builds dist/mcp-hangar.mjs (`npm run build`) when it is missing;
 *   2. starts the offline "internet" (sites.mjs) and waits for its `sites ready` line;
 *   3. runs `node dist/mcp-hangar.mjs up -c examples/quickstart/hangar.yaml` with this terminal's
 *      output, until it exits.
 * Ctrl-C (SIGINT) or SIGTERM is passed on, once, to both children: `up` removes what it created,
 * sites.mjs removes its link. When `up` exits, sites.mjs is stopped and this script exits with
 * `up`'s exit code (128 + the signal number when `up` was killed by a signal).
 *
 * HANGAR_UP_CMD, when set, replaces step 3's command line: a shell command run with `sh -c` from
 * the repository root (for trying the quickstart against another build, or the sites alone:
 * `HANGAR_UP_CMD='sleep infinity' npm start`).
 */
import { spawn, spawnSync } from 'node:child_process'
import console from 'node:console'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { constants } from 'node:os'
import process from 'node:process'
import { clearTimeout, setTimeout } from 'node:timers'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
process.chdir(root)

// eslint-disable-next-line no-restricted-syntax -- an example script's one documented switch
const upOverride = process.env.HANGAR_UP_CMD
const SITES_READY_TIMEOUT_MS = 30_000
const STOP_GRACE_MS = 10_000

const say = (line) => console.log(`quickstart: ${line}`)

if (!existsSync(join(root, 'dist/mcp-hangar.mjs')) && !upOverride) {
  say('dist/mcp-hangar.mjs is missing: running `npm run build` first')
  const b = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' })
  if (b.status !== 0) {
    say(`npm run build failed (exit ${b.status ?? b.signal}); fix the build and run npm start again`)
    process.exit(b.status || 1)
  }
}

/** Exit code of a child: its code, or 128 + signal number when a signal ended it. */
function exitCode(code, signal) {
  if (code !== null) return code
  return 128 + (constants.signals[signal] ?? 0)
}

/** Sends a signal to a child's process group (it runs detached, as its own group). */
function signalGroup(child, sig) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, sig)
  } catch {
    try {
      child.kill(sig)
    } catch {
      // already gone
    }
  }
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((r) => child.once('exit', () => r()))
}

async function stopSites(sites) {
  signalGroup(sites, 'SIGTERM')
  const timer = setTimeout(() => signalGroup(sites, 'SIGKILL'), STOP_GRACE_MS)
  await exited(sites)
  clearTimeout(timer)
}

// Children run detached (their own process groups), so a Ctrl-C in this terminal reaches them
// once, through us, instead of twice (once from the terminal, once forwarded).
const sites = spawn(process.execPath, [join(here, 'sites.mjs')], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
let up = null
let stopping = false

const ready = new Promise((resolveReady, rejectReady) => {
  const timer = setTimeout(() => rejectReady(new Error(`sites.mjs did not print "sites ready" within ${SITES_READY_TIMEOUT_MS / 1000} s`)), SITES_READY_TIMEOUT_MS)
  createInterface({ input: sites.stdout }).on('line', (line) => {
    console.log(line.startsWith('sites') ? line : `sites: ${line}`)
    if (line === 'sites ready') {
      clearTimeout(timer)
      resolveReady()
    }
  })
  sites.once('exit', (code, signal) => {
    clearTimeout(timer)
    rejectReady(new Error(`sites.mjs exited (${exitCode(code, signal)}) before it was ready`))
  })
})

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (!stopping) say(`${sig}: stopping mcp-hangar up and the local sites`)
    stopping = true
    if (up) signalGroup(up, sig === 'SIGHUP' ? 'SIGTERM' : sig)
    else void stopSites(sites).then(() => process.exit(130))
  })
}

try {
  await ready
} catch (err) {
  say(err.message)
  await stopSites(sites)
  process.exit(1)
}
if (stopping) {
  await stopSites(sites)
  process.exit(130)
}

const cmd = upOverride
  ? { file: '/bin/sh', args: ['-c', upOverride], shown: upOverride }
  : { file: process.execPath, args: ['dist/mcp-hangar.mjs', 'up', '-c', 'examples/quickstart/hangar.yaml'], shown: 'node dist/mcp-hangar.mjs up -c examples/quickstart/hangar.yaml' }
say(`running ${cmd.shown}`)
say('when the providers are ready, run `npm run demo` in another terminal; Ctrl-C here stops everything')
const agg = parse(readFileSync(join(here, 'hangar.yaml'), 'utf8')).aggregator
say(`the operator console: http://${agg.listen}/ui/ (sign in with the admin token ${agg.admin_tokens[0]})`)
up = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true })

let sitesFailed = false
sites.once('exit', (code, signal) => {
  if (stopping) return
  sitesFailed = true
  say(`sites.mjs stopped unexpectedly (${exitCode(code, signal)}); stopping mcp-hangar up`)
  stopping = true
  signalGroup(up, 'SIGTERM')
})

const [code, signal] = await new Promise((r) => {
  up.once('error', (err) => {
    say(`could not start ${cmd.shown}: ${err.message}`)
    r([1, null])
  })
  up.once('close', (c, s) => r([c, s]))
})
const upRc = code === null && signal === null ? 1 : exitCode(code, signal)
const rc = upRc === 0 && sitesFailed ? 1 : upRc
say(`mcp-hangar up exited (${upRc}); stopping the local sites`)
stopping = true
await stopSites(sites)
process.exit(rc)
