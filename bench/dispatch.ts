// Dispatch rate of compute: a job of tiny tasks through the real scheduler,
// coordinator and worker service on 4 local worker nodes. Goal (issue 3):
// ≥ 1,000 tasks/s.
//
//   npx node bench/dispatch.ts [--tasks 5000] [--slots 2] [--rounds 3]
//                              [--mode both|inproc|proc] [--json]
//
// Task: the spin fixture (packages/compute/test/fixtures/assembly/spin.ts) with
// n = 1 — microseconds of wasm, so what is measured is everything around it.
// Two fabrics, each with a coordinator (the rendezvous, granted compute/assign)
// and 4 compute nodes of `slots` sandbox domains:
// - inproc: every node a FabricNode in this process (real libp2p on loopback,
//   one event loop for all: shows the protocol's CPU cost);
// - proc: `startLocalFabric` — every node its own OS process, jobs submitted
//   through the coordinator's admin API (what `webfabric run` does).
// Policies, alternating within each round: k1 = replicas 1, quorum 1 (pure
// dispatch; the scheduler still spot-checks ~10% on the coordinator) and
// default = the manifest's redundancy policy (k = 2, q = 2). With the default
// policy, adaptive replication sends a task to a trusted worker alone, and
// workers earn trust (spot-checks passed) within the first few hundred tasks,
// so after round 1's first job "default" measures a trusted fabric's steady
// state (~1.1 executions per task), not k = 2. The baseline, in the
// same run: the same tasks straight into a local SandboxPool of the same
// total slots (no scheduler, no network) — the ceiling of the executions.
// Tasks/s = tasks accepted / seconds from submit to the last result. In proc mode
// each job also reports the CPU per task of the coordinator's process and of
// the workers' (all threads, from /proc/<pid>/stat; Linux only), and the
// warm-up job its time and CPU (nodes start their sandbox domains with them).
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FabricNode, JobReport, JobSpec } from '@webfabric/runtime'
import { compileTask } from '@webfabric/sdk'
import { connectNode } from '../apps/cli/src/fabric-file.ts'
import { startLocalFabric } from '../apps/cli/src/local-fabric.ts'
import { SandboxPool } from '../packages/compute/src/index.ts'
import { didOf, grant, makeOrigin, startNode } from '../packages/runtime/test/fixtures.ts'
import { fmt, median, table } from './lib/stats.ts'

const GOAL = 1000
const WORKERS = 4
const SPIN = fileURLToPath(new URL('../packages/compute/test/fixtures/assembly/spin.ts', import.meta.url))

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '5000' },
    slots: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
    json: { type: 'boolean', default: false }
  }
})
const TASKS = Number(values.tasks)
const SLOTS = Number(values.slots)
const ROUNDS = Number(values.rounds)
const MODES = values.mode === 'both' ? ['inproc', 'proc'] as const : [values.mode as 'inproc' | 'proc']
const log = (s: string): void => { if (values.json) console.error(s); else console.log(s) }
const load = (): number => Number(loadavg()[0].toFixed(2))
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

const module = await compileTask(SPIN)
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)
// distinct inputs (n = 1 each, padded by a task number the spin task ignores) so no two tasks share an input CID
const inputs = Array.from({ length: TASKS }, (_, i) => { const b = new Uint8Array(8); b.set(u32(1)); b.set(u32(i), 4); return b })

type Policy = 'k1' | 'default' | 'pool'
interface Run {
  mode: 'inproc' | 'proc' | 'local'
  policy: Policy
  round: number
  tasks: number
  seconds: number
  tasksPerSec: number
  executions: number
  spotChecks: number
  /** process CPU time (ms) per task: the whole fabric for inproc, this process only for proc */
  cpuMsPerTask: number
  /** proc only (Linux): CPU ms per task of the coordinator's process and of the 4 workers' together */
  coordinatorCpuMsPerTask?: number
  workersCpuMsPerTask?: number
  loadBefore: number
  loadAfter: number
}

/** A fabric that takes jobs. */
interface Fabric {
  submit: (spec: JobSpec) => Promise<JobReport>
  stop: () => Promise<void>
  receiptsPerSignature?: () => number
  /** CPU ms so far of the coordinator's and the workers' processes (real processes, where /proc is readable) */
  processCpu?: () => { coordinator: number, workers: number } | undefined
}

/** CPU time (ms, all threads) of a process from /proc/<pid>/stat; undefined where there is no /proc. */
function procCpuMs (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // fields after the command's closing parenthesis: state is field 3, utime 14, stime 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10 // USER_HZ = 100 on Linux
  } catch { return undefined }
}

async function inprocFabric (): Promise<Fabric> {
  const origin = await makeOrigin()
  const dataDir = join(origin.dir, 'coordinator')
  const did = await didOf(origin, dataDir)
  const membership = { intervalMs: 250, ttlMs: 2500 }
  const coordinator = await startNode(origin, {
    dataDir, rendezvous: true, roles: ['rendezvous'], membership,
    credentials: [(await grant(origin, did, 'fabric/membership', ['membership/gossip'])).bytes, (await grant(origin, did, 'fabric/compute', ['compute/assign'])).bytes]
  })
  const workers: FabricNode[] = []
  for (let i = 0; i < WORKERS; i++) workers.push(await startNode(origin, { bootstrap: coordinator.addrs(), roles: ['compute'], membership, compute: { slots: SLOTS } }))
  for (let i = 0; coordinator.membership.view().filter(m => m.roles.includes('compute')).length < WORKERS; i++) {
    if (i > 300) throw new Error('the coordinator never saw 4 compute workers')
    await sleep(100)
  }
  return {
    submit: async spec => await coordinator.submitJob(spec),
    receiptsPerSignature: () => {
      const sum = (f: (w: NonNullable<FabricNode['computeWorker']>) => number): number => workers.reduce((n, w) => n + (w.computeWorker != null ? f(w.computeWorker) : 0), 0)
      return sum(w => w.runs) / Math.max(1, sum(w => w.signatures))
    },
    stop: async () => {
      for (const n of [...workers, coordinator]) await n.stop()
      await origin.cleanup()
    }
  }
}

async function procFabric (): Promise<Fabric> {
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-dispatch-'))
  const fabric = await startLocalFabric({ dir, nodes: WORKERS, slots: SLOTS, intervalMs: 250, ttlMs: 2500 })
  const coordinator = await connectNode(dir, 'rendezvous')
  for (let i = 0; (await coordinator.api.members()).filter(m => m.roles.includes('compute') && !m.self).length < WORKERS; i++) {
    if (i > 300) throw new Error('the coordinator never saw 4 compute workers')
    await sleep(100)
  }
  const pids = [...fabric.children.entries()].map(([name, child]) => ({ name, pid: child.pid! }))
  return {
    submit: async spec => await coordinator.api.submitJob(spec),
    processCpu: () => {
      let workers = 0
      let coordinatorMs: number | undefined
      for (const { name, pid } of pids) {
        const ms = procCpuMs(pid)
        if (ms == null) return undefined
        if (name === 'rendezvous') coordinatorMs = ms
        else workers += ms
      }
      return coordinatorMs == null ? undefined : { coordinator: coordinatorMs, workers }
    },
    stop: async () => {
      coordinator.close()
      await fabric.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

async function measure (mode: Run['mode'], policy: Policy, round: number, run: () => Promise<{ tasks: number, executions: number, spotChecks: number }>, processCpu?: Fabric['processCpu']): Promise<Run> {
  const loadBefore = load()
  const p0 = processCpu?.()
  const c0 = cpuMs()
  const t0 = performance.now()
  const r = await run()
  const seconds = (performance.now() - t0) / 1000
  const p1 = processCpu?.()
  const out: Run = {
    mode, policy, round, ...r, seconds, tasksPerSec: r.tasks / seconds, cpuMsPerTask: (cpuMs() - c0) / r.tasks, loadBefore, loadAfter: load()
  }
  if (p0 != null && p1 != null) {
    out.coordinatorCpuMsPerTask = (p1.coordinator - p0.coordinator) / r.tasks
    out.workersCpuMsPerTask = (p1.workers - p0.workers) / r.tasks
  }
  const cpu = out.workersCpuMsPerTask != null ? ` CPU ms/task: coordinator ${out.coordinatorCpuMsPerTask!.toFixed(2)}, workers ${out.workersCpuMsPerTask.toFixed(2)}` : ''
  log(`round ${round} ${mode} ${policy}: ${r.tasks} tasks in ${seconds.toFixed(2)} s = ${fmt(out.tasksPerSec)} tasks/s` +
    ` (${r.executions} executions + ${r.spotChecks} spot-checks) load ${loadBefore}→${out.loadAfter}${cpu}`)
  return out
}

const runs: Run[] = []
const viaFabric = (fabric: Fabric, policy: 'k1' | 'default', round: number) => async () => {
  const report = await fabric.submit({ module, inputs, name: `dispatch-${policy}-${round}`, ...(policy === 'k1' ? { replicas: 1, quorum: 1 } : {}) })
  if (report.failed > 0) throw new Error(`${report.failed} tasks failed`)
  return { tasks: report.accepted, executions: report.executions, spotChecks: report.verifications }
}

// the baseline: the same tasks straight into one local pool of the fabric's total slots
{
  const pool = new SandboxPool({ size: WORKERS * SLOTS })
  // the pool's worker threads are unref'd: keep this process alive while they work
  const keepAlive = setInterval(() => {}, 1000)
  try {
    await Promise.all(inputs.slice(0, 100).map(async input => await pool.run({ module, input, fuelLimit: 1e10 })))
    for (let round = 1; round <= ROUNDS; round++) {
      runs.push(await measure('local', 'pool', round, async () => {
        await Promise.all(inputs.map(async input => await pool.run({ module, input, fuelLimit: 1e10 })))
        return { tasks: inputs.length, executions: inputs.length, spotChecks: 0 }
      }))
    }
  } finally {
    clearInterval(keepAlive)
    await pool.close()
  }
}

for (const mode of MODES) {
  log(`starting the ${mode} fabric: coordinator + ${WORKERS} compute nodes × ${SLOTS} slots`)
  const fabric = mode === 'inproc' ? await inprocFabric() : await procFabric()
  try {
    // warm-up: workers fetch and cache the module, V8 tiers up
    const w0 = fabric.processCpu?.()
    const tw = performance.now()
    await fabric.submit({ module, inputs: inputs.slice(0, 200), replicas: 1, quorum: 1, name: 'warm-up' })
    const w1 = fabric.processCpu?.()
    log(`warm-up: 200 tasks in ${((performance.now() - tw) / 1000).toFixed(2)} s` +
      (w0 != null && w1 != null ? `, CPU: coordinator ${(w1.coordinator - w0.coordinator).toFixed(0)} ms, workers ${(w1.workers - w0.workers).toFixed(0)} ms` : ''))
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Array<'k1' | 'default'> = round % 2 === 1 ? ['k1', 'default'] : ['default', 'k1']
      for (const policy of order) runs.push(await measure(mode, policy, round, viaFabric(fabric, policy, round), fabric.processCpu))
    }
    if (fabric.receiptsPerSignature != null) log(`${mode}: ${fabric.receiptsPerSignature().toFixed(2)} receipts per worker signature`)
  } finally {
    await fabric.stop()
  }
}

const groups = [...new Set(runs.map(r => `${r.mode} ${r.policy}`))].map(key => {
  const rs = runs.filter(r => `${r.mode} ${r.policy}` === key)
  const tps = median(rs.map(r => r.tasksPerSec))
  return {
    mode: rs[0].mode,
    policy: rs[0].policy,
    tasksPerSec: tps,
    execPerTask: median(rs.map(r => (r.executions + r.spotChecks) / r.tasks)),
    cpuMsPerTask: median(rs.map(r => r.cpuMsPerTask)),
    ...(rs[0].workersCpuMsPerTask != null
      ? { coordinatorCpuMsPerTask: median(rs.map(r => r.coordinatorCpuMsPerTask!)), workersCpuMsPerTask: median(rs.map(r => r.workersCpuMsPerTask!)) }
      : {}),
    goalRatio: tps / GOAL
  }
})

if (values.json) {
  console.log(JSON.stringify({ bench: 'dispatch', tasks: TASKS, workers: WORKERS, slots: SLOTS, rounds: ROUNDS, cpus: cpus().length, goal: GOAL, runs, summary: groups }, null, 2))
} else {
  console.log(`\ndispatch: ${TASKS} spin(n=1) tasks, ${WORKERS} compute nodes × ${SLOTS} slots; baseline = one local SandboxPool of ${WORKERS * SLOTS} domains`)
  console.log(table(
    ['round', 'mode', 'policy', 'tasks', 'seconds', 'tasks/s', 'exec/task (incl. checks)', 'cpu ms/task', 'proc cpu ms/task coord + workers', 'load before→after'],
    runs.map(r => [String(r.round), r.mode, r.policy, String(r.tasks), r.seconds.toFixed(2), fmt(r.tasksPerSec), ((r.executions + r.spotChecks) / r.tasks).toFixed(2), r.cpuMsPerTask.toFixed(2),
      r.workersCpuMsPerTask != null ? `${r.coordinatorCpuMsPerTask!.toFixed(2)} + ${r.workersCpuMsPerTask.toFixed(2)}` : '-', `${r.loadBefore}→${r.loadAfter}`])
  ))
  console.log('\nmedians:')
  console.log(table(
    ['mode', 'policy', 'tasks/s', 'vs goal 1,000', 'exec/task', 'cpu ms/task (this process)', 'proc cpu ms/task coord + workers'],
    groups.map(g => [g.mode, g.policy, fmt(g.tasksPerSec), `${g.goalRatio.toFixed(2)}×`, g.execPerTask.toFixed(2), g.cpuMsPerTask.toFixed(2),
      g.workersCpuMsPerTask != null ? `${g.coordinatorCpuMsPerTask!.toFixed(2)} + ${g.workersCpuMsPerTask.toFixed(2)}` : '-'])
  ))
}
