/**
 * Command-line options every benchmark suite shares, on `commander`: the program itself (usage
 * line, strict parsing, errors thrown instead of exiting), the value parsers, and the option
 * groups — the report (`--out`, `--no-write`), the measurement (`--quiet-cores`, `--max-wait`,
 * `--retries`, `--no-pin`, `--log-level`, `--cpu-prof`, `--keep-tmp`) and the phases (`--only`).
 * A suite adds its own options to the program and maps the parsed values to its option object.
 */
import path from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { ROOT } from './run.js'

/** Where a program writes its help and its errors (tests capture them). */
export interface ProgramOutput {
  out: (s: string) => void
  err: (s: string) => void
}

/**
 * A program for `npm run <script> -- [options]`: unknown options and stray arguments are errors,
 * and parsing throws a {@link CommanderError} instead of exiting (`exitCode` 0 after `--help`,
 * 1 after a bad option, whose message commander has already written to `output.err`).
 */
export function benchProgram(script: string, summary: string, output?: ProgramOutput): Command {
  const cmd = new Command(`npm run ${script} --`).description(summary).exitOverride().allowExcessArguments(false).helpOption('-h, --help', 'show this help')
  if (output) cmd.configureOutput({ writeOut: output.out, writeErr: output.err })
  return cmd
}

/**
 * Parses `argv` (the arguments only, as `process.argv.slice(2)`) and returns the option values.
 * @throws CommanderError on a bad option or after `--help`.
 */
export function parseProgram<V>(cmd: Command, argv: readonly string[]): V {
  cmd.parse([...argv], { from: 'user' })
  return cmd.opts<V & Record<string, unknown>>()
}

/** True when `err` only means "help was printed" (exit 0). */
export function isHelp(err: unknown): boolean {
  return err instanceof CommanderError && err.exitCode === 0
}

/** A finite number > 0. @throws InvalidArgumentError */
export function positive(v: string): number {
  const x = Number(v)
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0) throw new InvalidArgumentError(`expected a number > 0, got "${v}"`)
  return x
}

/** An integer > 0. @throws InvalidArgumentError */
export function positiveInt(v: string): number {
  const x = positive(v)
  if (!Number.isSafeInteger(x)) throw new InvalidArgumentError(`expected an integer > 0, got "${v}"`)
  return x
}

/** An integer ≥ 0. @throws InvalidArgumentError */
export function nonNegativeInt(v: string): number {
  const x = Number(v)
  if (v.trim() === '' || !Number.isSafeInteger(x) || x < 0) throw new InvalidArgumentError(`expected an integer ≥ 0, got "${v}"`)
  return x
}

/** A comma-separated list of integers > 0 (`16,64`). @throws InvalidArgumentError */
export function positiveIntList(v: string): number[] {
  const out = v.split(',').map((s) => s.trim()).filter(Boolean).map(positiveInt)
  if (!out.length) throw new InvalidArgumentError('expected a comma-separated list of integers > 0')
  return out
}

/** A parser of a comma-separated list of the `known` values (`connect,dns`). */
export function listOf<T extends string>(known: readonly T[]): (v: string) => T[] {
  return (v) => {
    const out: T[] = []
    for (const x of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!(known as readonly string[]).includes(x)) throw new InvalidArgumentError(`unknown value "${x}" (known: ${known.join(', ')})`)
      out.push(x as T)
    }
    return out
  }
}

/** A parser of one of the `known` values. */
export function oneOf<T extends string>(known: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(known as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${known.join(', ')}, got "${v}"`)
    return v as T
  }
}

/** `--out FILE` (default `defaultOut`, relative to the repository root) and `--no-write`. */
export function withReport(cmd: Command, defaultOut: string): Command {
  return cmd
    .addOption(new Option('--out <file>', 'markdown report').default(path.join(ROOT, defaultOut), defaultOut))
    .option('--no-write', 'write no report (print it only)')
}

/** The values {@link withReport} adds. */
export interface ReportValues {
  out: string
  write: boolean
}

/** Where the report goes: the markdown path, or undefined with `--no-write`. */
export function reportOut(v: ReportValues): string | undefined {
  return v.write ? v.out : undefined
}

/** Texts of the measurement options that differ between suites. */
export interface MeasurementHelp {
  /** What `--no-pin` leaves unpinned. */
  noPin: string
  /** What `--cpu-prof` profiles. */
  cpuProf: string
  /** What `--keep-tmp` keeps. */
  keepTmp: string
  /** Whose MCP_LOG_LEVEL `--log-level` sets. */
  logLevel: string
}

/** The options of a suite that measures processes it starts on a quiet machine, with phases. */
export function withMeasurement<P extends string>(cmd: Command, phases: readonly P[], help: MeasurementHelp): Command {
  return cmd
    .option('--quick', 'short runs, for trying the harness (not for the docs)')
    .option('--log-level <level>', help.logLevel, 'warn')
    .option('--no-pin', help.noPin)
    .option('--quiet-cores <cores>', 'other work (cores) tolerated during a measurement', positive, 0.05)
    .option('--max-wait <s>', 'longest wait for a quiet machine before each measurement', positive, 600)
    .option('--retries <n>', 'repeats of a measurement disturbed by other work', nonNegativeInt, 3)
    .addOption(new Option('--only <list>', `phases to run, of ${phases.join(',')}`).argParser(listOf(phases)).default([...phases], 'all'))
    .option('--cpu-prof', help.cpuProf)
    .option('--keep-tmp', help.keepTmp)
}

/** The values {@link withMeasurement} adds. */
export interface MeasurementValues<P extends string> {
  /** Flags without a value are undefined when absent. */
  quick?: boolean
  logLevel: string
  pin: boolean
  quietCores: number
  maxWait: number
  retries: number
  only: P[]
  cpuProf?: boolean
  keepTmp?: boolean
}

/** The measurement options every such suite reads, in the suites' names and units. */
export interface MeasurementOptions<P extends string> {
  quick: boolean
  /** MCP_LOG_LEVEL of the processes under test. */
  logLevel: string
  /** Pin the processes to CPUs (with taskset, where the machine has two cores or more). */
  pin: boolean
  /** Other work (cores) tolerated during a measurement. */
  quietCores: number
  /** Longest wait for a quiet machine before a measurement, seconds. */
  maxWaitS: number
  /** Repeats of a measurement disturbed by other work. */
  retries: number
  phases: Set<P>
  cpuProf: boolean
  keepTmp: boolean
  /** The markdown report, or undefined with `--no-write`. */
  out: string | undefined
}

/** Maps the values of {@link withMeasurement} and {@link withReport}. */
export function measurementOptions<P extends string>(v: MeasurementValues<P> & ReportValues): MeasurementOptions<P> {
  return {
    quick: v.quick === true,
    logLevel: v.logLevel,
    pin: v.pin,
    quietCores: v.quietCores,
    maxWaitS: v.maxWait,
    retries: v.retries,
    phases: new Set(v.only),
    cpuProf: v.cpuProf === true,
    keepTmp: v.keepTmp === true,
    out: reportOut(v),
  }
}

/** `value` if given, else the `--quick` default, else the default. */
export function pick(value: number | undefined, quick: boolean | undefined, quickDefault: number, normalDefault: number): number {
  return value ?? (quick ? quickDefault : normalDefault)
}
