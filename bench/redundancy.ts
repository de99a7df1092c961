// The compute Scheduler's redundancy policy in the simulator: executions per
// task after warm-up and wrong results accepted, with 0%, 10% and 1/3
// saboteurs, against fixed k = 2 replication (quorum 2, escalation on a
// mismatch, no spot-checks, no adaptive replication) measured in the same run
// on the same workers and seeds.
//
//   npx node bench/redundancy.ts [--tasks 10000] [--workers 100] [--seed 1] [--json]
//
// Each scenario: a warm-up job of `tasks` tasks, then a measured job of `tasks`
// tasks submitted when the warm-up job is done. Executions = assignments to
// workers (answered or not) + the coordinator's local checks. Saboteurs: a
// quarter random liars, a quarter colluders (one shared wrong answer per
// task), a tenth silent, the rest "sleepers" that answer right until trusted
// and then collude; slow workers are a tenth of all (5× slower). The "sneaky"
// row makes every saboteur cheat on only 10% of its results — the adversary
// Sarmenta's bound is about (README: "Error bounds").
import { parseArgs } from 'node:util'
import { Prng } from '@webfabric/sim'
import { type Behaviour, simulate, workers } from '../packages/compute/test/fixtures/scheduler-sim.ts'
import type { SchedulerInit } from '../packages/compute/src/scheduler/index.ts'
import { fmt, table } from './lib/stats.ts'

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false }
  }
})
const TASKS = Number(values.tasks)
const WORKERS = Number(values.workers)
const SEED = Number(values.seed)

/** Fixed k = 2: never trusted alone, never spot-checked. */
const FIXED_K2: Partial<SchedulerInit> = { trustAfter: Number.MAX_SAFE_INTEGER, spotCheckRate: 0, newSpotCheckRate: 0, conflictCheckRate: 0, finalAudit: false }

function mix (fraction: number): Partial<Record<Behaviour, number>> {
  const n = Math.round(WORKERS * fraction)
  const liar = Math.round(n / 4)
  const colluder = Math.round(n / 4)
  const silent = Math.round(n / 10)
  return { liar, colluder, silent, sleeper: n - liar - colluder - silent }
}

interface Row {
  scenario: string
  policy: 'default' | 'fixed-k2'
  saboteurs: number
  cheatRate: number
  warmupExecPerTask: number
  execPerTask: number
  checksPerTask: number
  wrongAccepted: number
  wrongProvisional: number
  failed: number
  blacklisted: number
  wallMs: number
}

const scenarios: Array<{ name: string, fraction: number, cheatRate: number }> = [
  { name: '0%', fraction: 0, cheatRate: 1 },
  { name: '10%', fraction: 0.1, cheatRate: 1 },
  { name: '1/3', fraction: 1 / 3, cheatRate: 1 },
  { name: '1/3 sneaky (cheat 10%)', fraction: 1 / 3, cheatRate: 0.1 }
]

const rows: Row[] = []
for (const sc of scenarios) {
  for (const policy of ['default', 'fixed-k2'] as const) {
    const started = performance.now()
    const ws = workers(WORKERS, mix(sc.fraction), new Prng(SEED))
    for (const w of ws) if (w.behaviour !== 'honest') w.cheatRate = sc.cheatRate
    const r = simulate({
      seed: SEED,
      workers: ws,
      init: policy === 'default' ? {} : FIXED_K2,
      jobs: [{ id: 'warm', tasks: TASKS }, { id: 'main', tasks: TASKS, after: 'warm' }]
    })
    const m = r.jobs.main
    const w = r.jobs.warm
    rows.push({
      scenario: sc.name,
      policy,
      saboteurs: Math.round(WORKERS * sc.fraction),
      cheatRate: sc.cheatRate,
      warmupExecPerTask: (w.assigned + w.verifications) / w.tasks,
      execPerTask: (m.assigned + m.verifications) / m.tasks,
      checksPerTask: m.verifications / m.tasks,
      wrongAccepted: r.wrongFinal,
      wrongProvisional: r.wrongEver,
      failed: r.failed,
      blacklisted: r.blacklisted.length,
      wallMs: Math.round(performance.now() - started)
    })
    process.stderr.write(`${sc.name} ${policy}: ${fmt(performance.now() - started)} ms\n`)
  }
}

if (values.json) {
  console.log(JSON.stringify({ bench: 'redundancy', tasks: TASKS, workers: WORKERS, seed: SEED, rows }, null, 2))
} else {
  console.log(`compute scheduler: ${WORKERS} workers, warm-up job of ${TASKS} tasks, then ${TASKS} measured tasks; seed ${SEED}`)
  console.log('exec/task = (assignments + local checks) / tasks of the measured job; wrong = wrong results in the final accepted set (of both jobs)\n')
  console.log(table(
    ['saboteurs', 'policy', 'exec/task warm-up', 'exec/task after', 'checks/task', 'wrong accepted', 'wrong, later reopened', 'failed', 'blacklisted', 'wall ms'],
    rows.map(r => [r.scenario, r.policy, r.warmupExecPerTask.toFixed(3), r.execPerTask.toFixed(3), r.checksPerTask.toFixed(3), String(r.wrongAccepted), String(r.wrongProvisional - r.wrongAccepted), String(r.failed), String(r.blacklisted), String(r.wallMs)])
  ))
}
