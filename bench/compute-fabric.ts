// Fabric vs one machine: a CPU-bound job with k = 1 on a local fabric of 2
// worker nodes (each its own OS process, one sandbox domain each; the
// rendezvous process is the coordinator) against a `piscina` pool of 2
// threads on the same machine running the same module, measured in the same
// run. Goal (issue 3): fabric ≥ 0.8× piscina's throughput.
//
//   npx node bench/compute-fabric.ts [--tasks 320] [--max-iter 6000] [--rounds 3]
//                                    [--no-plain] [--json]
//
// Task: examples/mandelbrot, 64×64 tiles of a view inside the main cardioid
// (every pixel runs to max-iter, so every tile costs the same, ~100 ms metered).
// Sides, alternating within each round (piscina, fabric, plain; then reversed):
// - fabric: `submitJob({ replicas: 1, quorum: 1 })` through the coordinator's
//   admin API. The scheduler still spot-checks (spotCheckRate of the tasks plus
//   a final audit per worker), re-executing those tasks on the coordinator's own
//   sandbox, on the same 2 cores: reported beside the throughput.
// - piscina: 2 threads, each running the metered VM (`loadModule`/`execute`
//   from @webfabric/compute), the same module bytes and inputs.
// - plain: 2 piscina threads running the original module unmetered (a plain
//   WebAssembly instance with the same imports): the ceiling of this machine.
// Throughput = tasks accepted (fabric) / completed (piscina) per second of the
// whole job, from submit to the last result. This file is also the piscina
// worker (its default export), so it keeps its heavy imports inside main().
import { isMainThread } from 'node:worker_threads'
import { type LoadedModule, execute, loadModule } from '../packages/compute/src/vm/index.ts'
import { plainRun } from './lib/plain-host.ts'

/** What the bench hands a piscina worker per task. */
interface PoolTask { mode: 'metered' | 'plain', module: Uint8Array, input: Uint8Array }

let metered: { bytes: Uint8Array, loaded: LoadedModule } | undefined
let plain: { bytes: Uint8Array, module: WebAssembly.Module } | undefined

/** The piscina worker: run one task (the module is loaded once per thread). */
export default async function runPoolTask (t: PoolTask): Promise<Uint8Array> {
  if (t.mode === 'metered') {
    if (metered?.bytes.byteLength !== t.module.byteLength) metered = { bytes: t.module, loaded: await loadModule(t.module, { profile: 'task' }) }
    const e = await execute(metered.loaded, { input: t.input, fuelLimit: 1e12 })
    if (e.status !== 'ok') throw new Error(`task ${e.status}: ${e.message ?? ''}`)
    return e.output
  }
  if (plain?.bytes.byteLength !== t.module.byteLength) plain = { bytes: t.module, module: new WebAssembly.Module(t.module as Uint8Array<ArrayBuffer>) }
  return plainRun(plain.module, t.input)
}


if (isMainThread) await main()

async function main (): Promise<void> {
  const { createHash } = await import('node:crypto')
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { loadavg, tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { fileURLToPath } = await import('node:url')
  const { parseArgs } = await import('node:util')
  const { Piscina } = await import('piscina')
  const { compileTask } = await import('@webfabric/sdk')
  const mandelbrot = await import('../examples/mandelbrot/index.ts')
  const { startLocalFabric } = await import('../apps/cli/src/local-fabric.ts')
  const { connectNode } = await import('../apps/cli/src/fabric-file.ts')
  const { fmt, median, table } = await import('./lib/stats.ts')

  const GOAL = 0.8
  const TILE = 64
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '320' },
      'max-iter': { type: 'string', default: '6000' },
      rounds: { type: 'string', default: '3' },
      'no-plain': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }
    }
  })
  const TASKS = Number(values.tasks)
  const MAX_ITER = Number(values['max-iter'])
  const ROUNDS = Number(values.rounds)
  const log = (s: string): void => { if (values.json) console.error(s); else console.log(s) }
  const load = (): number => Number(loadavg()[0].toFixed(2))

  const module = await compileTask(mandelbrot.TASK_SOURCE)
  // inside the main cardioid: every pixel iterates max-iter times, so tiles cost alike
  const cols = 16
  const inputs = mandelbrot.tiles(cols * TILE, Math.ceil(TASKS / cols) * TILE, TILE, { maxIter: MAX_ITER, view: mandelbrot.centered(-0.2, 0, 0.2, 1) }).slice(0, TASKS)
  const digest = (outs: Array<Uint8Array | undefined>): string => {
    const h = createHash('sha256')
    for (const o of outs) h.update(o ?? new Uint8Array(0))
    return h.digest('hex').slice(0, 16)
  }

  type Side = 'fabric' | 'piscina' | 'plain'
  interface Run {
    side: Side
    round: number
    tasks: number
    seconds: number
    tasksPerSec: number
    /** executions by workers (fabric) or threads (piscina) */
    executions: number
    /** fabric: re-executions on the coordinator (spot-checks and audits) */
    spotChecks: number
    /** all executions per second, spot-checks included */
    execPerSec: number
    outputs: string
    loadBefore: number
    loadAfter: number
  }

  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-compute-'))
  log(`starting a local fabric in ${dir}: rendezvous/coordinator + 2 worker processes, 1 slot each`)
  const fabric = await startLocalFabric({ dir, nodes: 2, slots: 1, intervalMs: 250, ttlMs: 2500 })
  const coordinator = await connectNode(dir, 'rendezvous')
  const pool = new Piscina({ filename: fileURLToPath(import.meta.url), minThreads: 2, maxThreads: 2, idleTimeout: 60_000 })
  const runs: Run[] = []
  try {
    for (let i = 0; i < 200; i++) {
      const computeMembers = (await coordinator.api.members()).filter(m => m.roles.includes('compute') && !m.self)
      if (computeMembers.length === 2) break
      if (i === 199) throw new Error('the coordinator never saw 2 compute workers')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    // warm-up: workers cache the module, threads load it, V8 tiers up
    const warm = inputs.slice(0, 4)
    await coordinator.api.submitJob({ module, inputs: warm, replicas: 1, quorum: 1, name: 'warm-up', fuelLimit: 1e12 })
    await Promise.all([...warm, ...warm].map((input, i) => pool.run({ mode: i < warm.length ? 'metered' : 'plain', module, input })))

    const runSide = async (side: Side, round: number): Promise<Run> => {
      const loadBefore = load()
      const t0 = performance.now()
      let outs: Array<Uint8Array | undefined>
      let executions = inputs.length
      let spotChecks = 0
      let tasks = inputs.length
      if (side === 'fabric') {
        const report = await coordinator.api.submitJob({ module, inputs, replicas: 1, quorum: 1, name: `bench-${round}`, fuelLimit: 1e12 })
        outs = report.tasks.slice().sort((a, b) => a.index - b.index).map(t => t.output)
        executions = report.executions
        spotChecks = report.verifications
        tasks = report.accepted
      } else {
        outs = await Promise.all(inputs.map(input => pool.run({ mode: side === 'piscina' ? 'metered' : 'plain', module, input }) as Promise<Uint8Array>))
      }
      const seconds = (performance.now() - t0) / 1000
      const r: Run = {
        side, round, tasks, seconds, tasksPerSec: tasks / seconds, executions, spotChecks,
        execPerSec: (executions + spotChecks) / seconds, outputs: digest(outs), loadBefore, loadAfter: load()
      }
      log(`round ${round} ${side}: ${r.tasks} tasks in ${seconds.toFixed(2)} s = ${r.tasksPerSec.toFixed(2)} tasks/s` +
        (side === 'fabric' ? ` (${executions} executions + ${spotChecks} spot-checks)` : '') + ` load ${loadBefore}→${r.loadAfter}`)
      return r
    }

    const sides: Side[] = values['no-plain'] ? ['piscina', 'fabric'] : ['piscina', 'fabric', 'plain']
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? sides : [...sides].reverse()
      for (const side of order) runs.push(await runSide(side, round))
    }
  } finally {
    coordinator.close()
    await pool.destroy()
    await fabric.stop()
    await rm(dir, { recursive: true, force: true })
  }

  const of = (side: Side): Run[] => runs.filter(r => r.side === side)
  const med = (side: Side, k: 'tasksPerSec' | 'execPerSec' | 'seconds' | 'spotChecks'): number => median(of(side).map(r => r[k]))
  const fabricTps = med('fabric', 'tasksPerSec')
  const piscinaTps = med('piscina', 'tasksPerSec')
  const plainTps = of('plain').length > 0 ? med('plain', 'tasksPerSec') : Number.NaN
  const summary = {
    fabricTasksPerSec: fabricTps,
    piscinaTasksPerSec: piscinaTps,
    plainTasksPerSec: plainTps,
    ratio: fabricTps / piscinaTps,
    /** all executions (spot-checks included) per second, over piscina's: the work the fabric did, not only what it delivered */
    execRatio: med('fabric', 'execPerSec') / piscinaTps,
    ratioVsPlain: fabricTps / plainTps,
    fabricSpotChecksMedian: med('fabric', 'spotChecks'),
    goal: GOAL,
    outputsAgree: new Set(runs.map(r => r.outputs)).size === 1
  }

  if (values.json) {
    console.log(JSON.stringify({ bench: 'compute-fabric', tasks: TASKS, tile: TILE, maxIter: MAX_ITER, rounds: ROUNDS, moduleBytes: module.byteLength, runs, summary }, null, 2))
    return
  }
  console.log(`\nmandelbrot: ${TASKS} tiles of ${TILE}×${TILE}, max-iter ${MAX_ITER}; fabric = 2 worker processes × 1 slot, k=1 q=1; piscina = 2 threads`)
  console.log(table(
    ['round', 'side', 'tasks', 'seconds', 'tasks/s', 'spot-checks', 'exec/s (incl. checks)', 'load before→after', 'outputs'],
    runs.map(r => [String(r.round), r.side, String(r.tasks), r.seconds.toFixed(2), r.tasksPerSec.toFixed(2), r.side === 'fabric' ? String(r.spotChecks) : '-', fmt(r.execPerSec, 2), `${r.loadBefore}→${r.loadAfter}`, r.outputs])
  ))
  console.log(`\nmedian tasks/s: fabric ${fmt(fabricTps, 2)}, piscina (metered) ${fmt(piscinaTps, 2)}${Number.isNaN(plainTps) ? '' : `, piscina (plain wasm) ${fmt(plainTps, 2)}`}`)
  console.log(`fabric / piscina = ${summary.ratio.toFixed(2)} (goal ≥ ${GOAL}: ${summary.ratio >= GOAL ? 'met' : 'NOT met'}); counting spot-check executions as work: ${summary.execRatio.toFixed(2)}`)
  if (!Number.isNaN(plainTps)) console.log(`fabric / plain wasm = ${summary.ratioVsPlain.toFixed(2)}`)
  console.log(`outputs identical on every side and round: ${summary.outputsAgree ? 'yes' : 'NO'}`)
}
