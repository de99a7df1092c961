// Fuel metering overhead counted in executed machine instructions rather than
// wall time: each kernel of bench/metering.ts, plain and instrumented
// (instrument(bytes, { profile: 'task' })), run once with the bare host
// (bench/lib/bare-host.ts) in its own Node under callgrind, and the
// instructions executed inside the module's own wasm functions summed. The
// counts do not move with the load of a shared machine as the wall clock does
// (±0.1–0.2 here), so they are the figures to compare builds by.
//
//   npx node bench/metering-instructions.ts [--only ex:matmul] [--no-branch-hints] [--source ex:matmul=/tmp/old.ts] [--top 3] [--keep] [--json]
//
// Each side runs as `valgrind --tool=callgrind --smc-check=all-non-file
// --dump-instr=yes --dump-line=no node --no-liftoff --single-threaded
// --perf-basic-prof [--experimental-wasm-branch-hinting] runner.mjs module.wasm
// input.bin` with this process's node; callgrind's Ir per instruction address
// is summed into the ranges V8 wrote to /tmp/perf-<pid>.map for the module's
// functions (`JS:wasm-function[i]-i-turbofan`, or the function's name from the
// name section). The runner is plain JS (bareRun's source text): a .ts runner
// would make Node load its TypeScript stripper, a wasm module of its own whose
// functions land in the same map under the same kind of names. V8 reads the
// branch hints unless --no-branch-hints, as bench/metering.ts (readBranchHints);
// the plain modules have none. --source NAME=path.ts also compiles another
// AssemblyScript task (compileTask) and counts it on kernel NAME's input, e.g.
// an older form of an example. Callgrind runs ~50× slower than native: a side
// takes a minute or two. The goal, as bench/metering.ts: metered/plain ≤ 1.15.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { instrument } from '../packages/compute/src/vm/index.ts'
import { compileTask } from '../packages/sdk/src/index.ts'
import { bareRun } from './lib/bare-host.ts'
import { type Kernel, kernels } from './lib/metering-kernels.ts'
import { fmt, table } from './lib/stats.ts'

const GOAL = 1.15

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    source: { type: 'string', multiple: true, default: [] },
    'branch-hints': { type: 'boolean', default: true },
    top: { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false }
  },
  allowNegative: true
})
const log = (s: string): void => { if (!values.json) console.log(s); else console.error(s) }

const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
if (valgrind.error !== undefined || valgrind.status !== 0) {
  console.error('valgrind is not installed (this bench runs each module under callgrind): apt-get install valgrind')
  process.exit(1)
}

const nodeFlags = ['--no-liftoff', '--single-threaded', '--perf-basic-prof', ...(values['branch-hints'] ? ['--experimental-wasm-branch-hinting'] : [])]
const dir = mkdtempSync(join(tmpdir(), 'wf-metering-ir-'))
const runner = join(dir, 'runner.mjs')
writeFileSync(runner, [
  '// Written by bench/metering-instructions.ts: one bare run of a task module (bareRun of bench/lib/bare-host.ts).',
  "import { readFileSync } from 'node:fs'",
  `const bareRun = ${bareRun.toString()}`,
  'const [module, input] = process.argv.slice(2)',
  'bareRun(new WebAssembly.Module(readFileSync(module)), new Uint8Array(readFileSync(input)))()',
  ''
].join('\n'))

/** Instructions a side executed in one function of the module (a perf map range). */
interface FunctionCount { name: string, ir: number }

/** One side's run under callgrind. */
interface Count {
  /** instructions executed in the module's own wasm functions */
  ir: number
  /** instructions of the whole process (Node's start-up, compiling, the run) */
  processIr: number
  /** the module's functions by instructions, most first */
  functions: FunctionCount[]
  /** seconds the callgrind run took */
  seconds: number
}

interface Result {
  kernel: string
  /** the source compiled instead of the kernel's own (--source), if any */
  source?: string
  plain: Count
  metered: Count
  ratio: number
}

/** A perf map range of generated code. */
interface Range { start: number, end: number, name: string }

/** The ranges of a module's wasm functions in V8's perf map (`JS:<name>-<index>-turbofan`; JS functions have a `*` or `~` and a space). */
function wasmRanges (map: string): Range[] {
  const ranges: Range[] = []
  for (const line of map.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) JS:([^ *~][^ ]*-\d+-(?:turbofan|liftoff))$/.exec(line)
    if (m !== null) {
      const start = Number.parseInt(m[1], 16)
      ranges.push({ start, end: start + Number.parseInt(m[2], 16), name: m[3] })
    }
  }
  return ranges.sort((a, b) => a.start - b.start)
}

/**
 * Self cost (the `Ir` event) per instruction address of a callgrind output written with --dump-instr=yes, and the
 * file's total. Subpositions are absolute (`0x…` or decimal) or relative to the last *cost* line's (`+n`, `-n`, `*`):
 * a `calls=` line's target and the inclusive-cost line after it are written relative to it but do not move it
 * (callgrind's dump.c: only fprint_fcost updates `last`), and the inclusive line is the callee's cost, not self cost.
 */
function parseCallgrind (text: string): { byAddress: Map<number, number>, total: number, summary: number | null } {
  let positions = ['line']
  let irAt = 0
  let last: number[] = [0]
  let callCost = false
  let total = 0
  let summary: number | null = null
  const byAddress = new Map<number, number>()
  const num = (s: string): number => s.startsWith('0x') ? Number.parseInt(s, 16) : Number(s)
  const subposition = (tok: string, prev: number): number => {
    if (tok === '*') return prev
    if (tok[0] === '+') return prev + num(tok.slice(1))
    if (tok[0] === '-') return prev - num(tok.slice(1))
    return num(tok)
  }
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue
    const c = line[0]
    if (c === '+' || c === '-' || c === '*' || (c >= '0' && c <= '9')) {
      const toks = line.trim().split(/\s+/)
      const pos = positions.map((_, i) => subposition(toks[i], last[i]))
      if (callCost) { callCost = false; continue } // a call's inclusive cost, at the call site
      last = pos
      const ir = Number(toks[positions.length + irAt] ?? 0)
      total += ir
      const addr = pos[positions.indexOf('instr')]
      byAddress.set(addr, (byAddress.get(addr) ?? 0) + ir)
    } else if (line.startsWith('calls=')) {
      callCost = true
    } else if (line.startsWith('positions:')) {
      positions = line.slice('positions:'.length).trim().split(/\s+/)
      last = positions.map(() => 0)
    } else if (line.startsWith('events:')) {
      irAt = line.slice('events:'.length).trim().split(/\s+/).indexOf('Ir')
    } else if (line.startsWith('summary:') || line.startsWith('totals:')) {
      summary = Number(line.slice(line.indexOf(':') + 1).trim().split(/\s+/)[irAt])
    } // fn=, fl=, ob=, cfn=, jump=, … name positions or jumps: no cost
  }
  if (!positions.includes('instr')) throw new Error('callgrind output has no instruction addresses (run it with --dump-instr=yes)')
  return { byAddress, total, summary }
}

/** Run `module` once on `input` under callgrind; count the instructions in its wasm functions. */
function count (label: string, module: string, input: string): Count {
  const out = join(dir, `${label}.callgrind`)
  const t = performance.now()
  const r = spawnSync('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--dump-instr=yes', '--dump-line=no', `--callgrind-out-file=${out}`,
    process.execPath, ...nodeFlags, runner, module, input], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const seconds = (performance.now() - t) / 1000
  if (r.status !== 0) throw new Error(`${label}: callgrind run exited ${r.status ?? r.signal}: ${r.stderr.split('\n').slice(-15).join('\n')}`)
  const text = readFileSync(out, 'utf8')
  const pid = /^pid:\s*(\d+)/m.exec(text)?.[1]
  if (pid === undefined) throw new Error(`${label}: no pid in ${out}`)
  const mapFile = `/tmp/perf-${pid}.map`
  const ranges = wasmRanges(readFileSync(mapFile, 'utf8'))
  if (!values.keep) rmSync(mapFile, { force: true })
  if (ranges.length === 0) throw new Error(`${label}: no wasm functions in ${mapFile}`)
  const { byAddress, total, summary } = parseCallgrind(text)
  if (summary !== null && summary !== total) throw new Error(`${label}: the cost lines sum to ${total} Ir, the file's summary says ${summary}`)
  const perRange = new Map<Range, number>()
  for (const [addr, ir] of byAddress) {
    let lo = 0
    let hi = ranges.length - 1
    while (lo <= hi) { // the last range starting at or before addr
      const mid = (lo + hi) >> 1
      if (ranges[mid].start <= addr) lo = mid + 1; else hi = mid - 1
    }
    const range = ranges[hi]
    if (range !== undefined && addr < range.end) perRange.set(range, (perRange.get(range) ?? 0) + ir)
  }
  const byName = new Map<string, number>()
  for (const [range, ir] of perRange) byName.set(range.name, (byName.get(range.name) ?? 0) + ir)
  const functions = [...byName].map(([name, ir]) => ({ name, ir })).sort((a, b) => b.ir - a.ir)
  return { ir: functions.reduce((n, f) => n + f.ir, 0), processIr: total, functions, seconds }
}

/** What to count: the kernels (or --only's), then each --source on its kernel's input. */
const jobs: { kernel: Kernel, source?: string }[] = kernels.filter(k => values.only === undefined || k.name === values.only).map(kernel => ({ kernel }))
for (const spec of values.source) {
  const at = spec.indexOf('=')
  const kernel = kernels.find(k => k.name === spec.slice(0, at))
  if (at < 0 || kernel === undefined) {
    console.error(`--source ${spec}: expected NAME=path.ts with NAME one of ${kernels.map(k => k.name).join(', ')}`)
    process.exit(2)
  }
  const path = resolve(spec.slice(at + 1))
  jobs.push({ kernel: { ...kernel, bytes: () => compileTask(path) }, source: path })
}

const results: Result[] = []
const skipped: { kernel: string, reason: string }[] = []
for (const { kernel, source } of jobs) {
  const name = source === undefined ? kernel.name : `${kernel.name} (${basename(source)})`
  let bytes: Uint8Array
  try {
    bytes = await kernel.bytes()
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]
    skipped.push({ kernel: name, reason })
    log(`${name}: skipped (${reason})`)
    continue
  }
  const slug = name.replace(/[^A-Za-z0-9.-]+/g, '_')
  const files = { plain: join(dir, `${slug}.plain.wasm`), metered: join(dir, `${slug}.metered.wasm`), input: join(dir, `${slug}.input.bin`) }
  writeFileSync(files.plain, bytes)
  writeFileSync(files.metered, instrument(bytes, { profile: 'task' }).bytes)
  writeFileSync(files.input, kernel.input)
  const plain = count(`${slug}.plain`, files.plain, files.input)
  const metered = count(`${slug}.metered`, files.metered, files.input)
  const res: Result = { kernel: name, ...(source === undefined ? {} : { source }), plain, metered, ratio: metered.ir / plain.ir }
  results.push(res)
  log(`${name}: plain ${fmt(plain.ir)} Ir, metered ${fmt(metered.ir)} Ir, ratio ${fmt(res.ratio, 3)} (callgrind ${fmt(plain.seconds, 0)} s + ${fmt(metered.seconds, 0)} s)`)
}
if (!values.keep) rmSync(dir, { recursive: true, force: true })

const load = loadavg()[0]
const M = (n: number): string => `${fmt(n / 1e6, 1)} M`
if (values.json) {
  console.log(JSON.stringify({ node: process.version, valgrind: valgrind.stdout.trim(), nodeFlags, goal: GOAL, branchHints: values['branch-hints'], load, results, skipped }, null, 2))
} else {
  console.log()
  console.log(table(['kernel', 'plain', 'metered', 'metered/plain', 'goal'],
    results.map(r => [r.kernel, M(r.plain.ir), M(r.metered.ir), fmt(r.ratio, 3), r.ratio <= GOAL ? 'met' : 'not met'])))
  const top = Number(values.top)
  if (top > 0) {
    for (const r of results) {
      for (const side of ['plain', 'metered'] as const) {
        console.log(`\n${r.kernel}, ${side}: ${r[side].functions.slice(0, top).map(f => `${f.name} ${M(f.ir)}`).join(', ')}`)
      }
    }
  }
  console.log(values['branch-hints'] ? '\nV8 reads the branch hints (--experimental-wasm-branch-hinting)' : '\nV8 ignores the branch hints (--no-branch-hints)')
  if (values.keep) console.log(`callgrind outputs and modules kept in ${dir} (and the perf maps in /tmp)`)
  console.log(`\ngoal: metered/plain <= ${GOAL}; instructions executed in the module's wasm functions (callgrind Ir), one run each, ${process.version} ${nodeFlags.join(' ')}; 1-minute load ${load.toFixed(2)} (counts do not depend on it)`)
}
