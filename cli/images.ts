/**
 * `mcp-hangar images build [--push REGISTRY] [--base IMAGE] [--tag TAG] [--force]`: builds the
 * local node base, the sidecar, aggregator and injector images from this installation (an npm
 * install or a built checkout; no git checkout needed), and optionally pushes them. Composition
 * only: the work is sidecar/image-build.ts.
 *
 * Exit codes: 0 built (and pushed); 2 Docker missing or not answering, a build or push failed, or
 * a bad option (the message says which).
 */
import type { Command } from 'commander'
import { HANGAR_VERSION } from '../core/version.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { BASE_IMAGE, buildBaseImage, buildHangarImages, hangarImageTags, pushImages, requireDocker, type HangarImageTags } from '../sidecar/image-build.js'

/** Options of `images build`, as commander gives them. */
export interface ImagesBuildCommand {
  push?: string
  base?: string
  tag?: string
  force?: boolean
}

/** A Docker tag: 1–128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-` (the Docker reference grammar). */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

/**
 * Runs `images build`.
 * @returns the built tags (and the pushed names).
 * @throws HangarError `HANGAR_USAGE` (bad `--tag`/`--push`), `HANGAR_IMAGE_BUILD_FAILED`,
 *   `HANGAR_IMAGE_PUSH_FAILED`.
 */
export function runImagesBuild(cmd: ImagesBuildCommand, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): { base: string; tags: HangarImageTags; pushed: string[] } {
  const tag = cmd.tag ?? HANGAR_VERSION
  if (!TAG.test(tag)) throw new HangarError(ERROR_CODES.USAGE, `--tag: expected a Docker tag (letters, digits, "_", ".", "-"; at most 128), got "${tag}"`)
  requireDocker()
  const base = cmd.base ?? buildBaseImage(BASE_IMAGE, { force: cmd.force === true })
  const tags = buildHangarImages(base, hangarImageTags(tag), { force: cmd.force === true })
  for (const t of Object.values(tags)) log(`ready ${t}`)
  const pushed = cmd.push !== undefined ? pushImages(tags, cmd.push, log) : []
  return { base, tags, pushed }
}

/** Registers `images build` on the program. */
export function registerImagesCommands(program: Command): void {
  const images = program.command('images').description('the container images MCP Hangar runs in')
  images
    .command('build')
    .description(`build mcp-hangar/sidecar, mcp-hangar/aggregator and mcp-hangar/injector (:${HANGAR_VERSION}) on a local FROM-scratch base of this host's node; no registry needed`)
    .option('--push <registry>', 'then tag them <registry>/mcp-hangar/…:<tag> and docker push them')
    .option('--base <image>', 'build on this image (any image with node >= 20 on PATH) instead of the local base')
    .option('--tag <tag>', 'the tag of the three images', HANGAR_VERSION)
    .option('--force', 'rebuild even when the inputs did not change')
    .action((o: ImagesBuildCommand) => {
      runImagesBuild(o)
    })
}
