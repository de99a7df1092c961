// Fuel metering overhead of the WebDeterministicVM: the same AssemblyScript
// CPU kernels run metered (loadModule + execute: fuel, stack depth, NaN
// canonicalisation, host accounting) and unmetered (the original module
// instantiated with a plain host implementing the same imports), on the same
// V8 in the same process.
//
//   npx node bench/metering.ts [--rounds 9] [--warmup 2] [--only mandelbrot] [--tiering] [--direct 25] [--no-branch-hints] [--json]
//
// Two sets of kernels (bench/lib/metering-kernels.ts): bench/kernels/*.as (AssemblyScript, our own,
// self-contained; their size parameter is a little-endian u32 input), and the
// examples/ tasks compiled by the SDK (compileTask) with inputs built by their
// README's formats (skipped with a note if the SDK cannot compile them). Sides alternate within each round
// (plain, metered, metered, plain, …) so drift and other load on the shared
// machine fall on both; the summary is the median per side and their ratio.
// Times are CPU time of this process (the machine is shared). Unless
// --tiering, V8 compiles wasm straight with TurboFan (--no-liftoff), so both
// sides are measured in their steady state rather than racing background
// tier-up on a loaded machine. The goal is metered/plain ≤ 1.15. The metered
// side includes the commitment's hashing of input and output (a few ms on the
// matrix task's 3.5 MB); it is also timed apart, and "w/o hash" leaves it out.
// --direct N also times the wasm run alone, N rounds: the instrumented module
// instantiated with a bare host (no execute, no hashing, fuel never running
// out) against the plain one, sides alternating; its best-of ratio is the
// steadiest figure of the metering itself on a loaded machine. V8 reads the
// instrumented module's branch hints, as in a node's sandbox domains and in
// Chromium (readBranchHints: Node 24 has it behind a process-wide flag); the
// plain modules have none, so both sides run on the same V8 with the same
// flags. --no-branch-hints leaves the flag off (the VM before 2026-11-22).
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { readBranchHints } from '../packages/compute/src/sandbox/domain.ts'
import { execute, instrument, loadModule, rawCid } from '../packages/compute/src/vm/index.ts'
import { bareRun } from './lib/bare-host.ts'
import { kernels } from './lib/metering-kernels.ts'
import { plainRun } from './lib/plain-host.ts'
import { fmt, median, table } from './lib/stats.ts'

const GOAL = 1.15

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '2' },
    only: { type: 'string' },
    tiering: { type: 'boolean', default: false },
    direct: { type: 'string' },
    'branch-hints': { type: 'boolean', default: true },
    json: { type: 'boolean', default: false }
  },
  allowNegative: true
})
if (!values.tiering) setFlagsFromString('--no-liftoff')
if (values['branch-hints']) readBranchHints()
const rounds = Number(values.rounds)
const warmup = Number(values.warmup)
const log = (s: string): void => { if (!values.json) console.log(s); else console.error(s) }

/** CPU time of this process (user + system) in ms: on a shared machine it counts our work, not our waiting. */
function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

interface KernelResult {
  kernel: string
  param: number
  plainMs: number
  meteredMs: number
  ratio: number
  /** CPU time of the commitment's hashing (input and output CIDs), part of meteredMs but not metering */
  hashMs: number
  /** (meteredMs - hashMs) / plainMs: the cost of metering alone */
  runRatio: number
  fuel: number
  /** fuel per microsecond of metered run time */
  fuelPerUs: number
  plainSamples: number[]
  meteredSamples: number[]
  /** with --direct: the wasm run alone, instrumented ÷ plain, best of the rounds and of medians */
  direct?: { best: number, median: number }
}

const results: KernelResult[] = []
const skipped: { kernel: string, reason: string }[] = []
for (const k of kernels) {
  const { name, param, input } = k
  if (values.only !== undefined && values.only !== name) continue
  let bytes: Uint8Array
  try {
    bytes = await k.bytes()
  } catch (err) {
    skipped.push({ kernel: name, reason: (err as Error).message.split('\n')[0] })
    log(`${name}: skipped (${(err as Error).message.split('\n')[0]})`)
    continue
  }
  const plainModule = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
  const loaded = await loadModule(bytes, { profile: 'task' })
  let fuel = 0
  let expected: Uint8Array | null = null
  const plain = (): number => {
    const t = cpuMs()
    const out = plainRun(plainModule, input)
    const ms = cpuMs() - t
    expected ??= out
    return ms
  }
  const metered = async (): Promise<number> => {
    const t = cpuMs()
    const e = await execute(loaded, { input, fuelLimit: Number.MAX_SAFE_INTEGER, outputLimitBytes: 64 << 20 })
    const ms = cpuMs() - t
    if (e.status !== 'ok') throw new Error(`${name}: metered run ended ${e.status}: ${e.message}`)
    if (expected !== null && Buffer.compare(e.output, expected) !== 0) throw new Error(`${name}: metered output differs from plain`)
    fuel = e.fuel
    return ms
  }
  const hashing = async (): Promise<number> => { // what execute spends on the input and output CIDs
    const t = cpuMs()
    await rawCid(input)
    await rawCid(expected!)
    return cpuMs() - t
  }
  for (let i = 0; i < warmup; i++) { plain(); await metered() }
  const ps: number[] = []
  const ms: number[] = []
  const hs: number[] = []
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) { ps.push(plain()); ms.push(await metered()) } else { ms.push(await metered()); ps.push(plain()) }
    hs.push(await hashing())
  }
  const plainMs = median(ps)
  const meteredMs = median(ms)
  const hashMs = median(hs)
  const res: KernelResult = {
    kernel: name, param, plainMs, meteredMs, ratio: meteredMs / plainMs, hashMs, runRatio: (meteredMs - hashMs) / plainMs,
    fuel, fuelPerUs: fuel / (meteredMs * 1000), plainSamples: ps, meteredSamples: ms
  }
  if (values.direct !== undefined) {
    const runPlain = bareRun(plainModule, input)
    const runMetered = bareRun(await WebAssembly.compile(instrument(bytes, { profile: 'task' }).bytes as Uint8Array<ArrayBuffer>), input)
    const dp: number[] = []
    const dm: number[] = []
    const time = (run: () => void, into: number[]): void => { const t = cpuMs(); run(); into.push(cpuMs() - t) }
    for (let r = 0; r < Number(values.direct) + warmup; r++) {
      if (r % 2 === 0) { time(runPlain, dp); time(runMetered, dm) } else { time(runMetered, dm); time(runPlain, dp) }
    }
    dp.splice(0, warmup)
    dm.splice(0, warmup)
    res.direct = { best: Math.min(...dm) / Math.min(...dp), median: median(dm) / median(dp) }
  }
  results.push(res)
  const direct = res.direct === undefined ? '' : `; wasm run alone ${fmt(res.direct.best, 3)} (best), ${fmt(res.direct.median, 3)} (median)`
  log(`${name}: plain ${fmt(plainMs, 1)} ms, metered ${fmt(meteredMs, 1)} ms (hashing ${fmt(hashMs, 1)}), ratio ${fmt(res.ratio, 3)}, without hashing ${fmt(res.runRatio, 3)}${direct}`)
}

const load = loadavg()[0]
if (values.json) {
  console.log(JSON.stringify({ node: process.version, goal: GOAL, rounds, tiering: values.tiering, branchHints: values['branch-hints'], load, results, skipped }, null, 2))
} else {
  console.log()
  const directCols = values.direct === undefined ? [] : ['run alone (best)', 'run alone (median)']
  console.log(table(['kernel', 'param', 'plain ms', 'metered ms', 'metered/plain', 'hash ms', 'w/o hash', ...directCols, 'fuel', 'fuel/µs'],
    results.map(r => [r.kernel, String(r.param), fmt(r.plainMs, 1), fmt(r.meteredMs, 1), fmt(r.ratio, 3), fmt(r.hashMs, 1), fmt(r.runRatio, 3),
      ...(r.direct === undefined ? [] : [fmt(r.direct.best, 3), fmt(r.direct.median, 3)]), fmt(r.fuel), fmt(r.fuelPerUs, 0)])))
  console.log(values['branch-hints'] ? '\nV8 reads the branch hints (readBranchHints)' : '\nV8 ignores the branch hints (--no-branch-hints)')
  console.log(`\ngoal: metered/plain <= ${GOAL} (w/o hash: less the commitment's sha256 of input and output, timed apart); medians of ${rounds} rounds; 1-minute load ${load.toFixed(2)} (2 cores: above 2, others compete for the CPU)`)
}
