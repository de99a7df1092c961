// The compute Scheduler in virtual time (test/fixtures/scheduler-sim.ts):
// thousands of tasks, up to a third saboteurs of every kind, churn. Every test
// names its seed; a failing seed replays exactly.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Prng } from '@webfabric/sim'
import { type SimWorker, simulate, workers } from './fixtures/scheduler-sim.ts'

const perTask = (j: { assigned: number, verifications: number, tasks: number }): number => (j.assigned + j.verifications) / j.tasks

describe('scheduler in simulation', () => {
  it('a third saboteurs (random liars, colluders, silent, trust-then-cheat), 20,000 tasks: no wrong result accepted, every task settled (seed 1)', (t) => {
    const ws = workers(99, { liar: 8, colluder: 8, silent: 5, sleeper: 12 }, new Prng(1))
    const r = simulate({ seed: 1, workers: ws, jobs: [{ id: 'warm', tasks: 10_000 }, { id: 'main', tasks: 10_000, after: 'warm' }] })
    t.diagnostic(`wrong accepted: ${r.wrongFinal} final, ${r.wrongEver} provisionally (then reopened); reopened ${r.reopened}; blacklisted ${r.blacklisted.length}/28; timeouts ${r.timeouts}`)
    t.diagnostic(`executions/task: warm-up job ${perTask(r.jobs.warm).toFixed(3)}, after warm-up ${perTask(r.jobs.main).toFixed(3)} (${r.jobs.main.verifications} local checks)`)
    assert.equal(r.allSettled, true)
    assert.equal(r.tasks, 20_000)
    assert.equal(r.accepted + r.failed, 20_000)
    assert.equal(r.failed, 0)
    assert.equal(r.wrongFinal, 0)
    assert.equal(r.honestBlacklisted, 0)
    assert.deepEqual(r.jobsDone.sort(), ['main', 'warm'])
  })

  it('no saboteurs: after warm-up, at most 1.25 executions per task (seed 2)', (t) => {
    const ws = workers(100, {}, new Prng(2))
    const r = simulate({ seed: 2, workers: ws, jobs: [{ id: 'warm', tasks: 10_000 }, { id: 'main', tasks: 10_000, after: 'warm' }] })
    const x = perTask(r.jobs.main)
    t.diagnostic(`executions/task: warm-up ${perTask(r.jobs.warm).toFixed(3)}, after warm-up ${x.toFixed(3)}`)
    assert.equal(r.wrongFinal, 0)
    assert.equal(r.wrongEver, 0)
    assert.equal(r.allSettled, true)
    assert.ok(x <= 1.25, `overhead ${x}`)
  })

  it('10% saboteurs: overhead after warm-up reported, nothing wrong accepted (seed 3)', (t) => {
    const ws = workers(100, { liar: 3, colluder: 3, sleeper: 4 }, new Prng(3))
    const r = simulate({ seed: 3, workers: ws, jobs: [{ id: 'warm', tasks: 10_000 }, { id: 'main', tasks: 10_000, after: 'warm' }] })
    t.diagnostic(`executions/task after warm-up: ${perTask(r.jobs.main).toFixed(3)}; wrong final ${r.wrongFinal}, provisional ${r.wrongEver}; blacklisted ${r.blacklisted.length}/10`)
    assert.equal(r.wrongFinal, 0)
    assert.equal(r.allSettled, true)
    assert.ok(perTask(r.jobs.main) < 1.5)
  })

  it('churn: a fifth of the workers depart mid-job and newcomers join; their work is reassigned and the job completes (seed 4)', (t) => {
    const rng = new Prng(4)
    const ws = workers(50, { liar: 3, colluder: 3 }, rng)
    const newcomers: SimWorker[] = workers(5, {}, rng).map(w => ({ ...w, peer: `new-${w.peer}` }))
    const gone = ws.slice(0, 10).map(w => w.peer)
    const r = simulate({
      seed: 4,
      workers: ws,
      jobs: [{ id: 'j', tasks: 3_000 }],
      churn: [{ at: 5_000, depart: gone.slice(0, 5) }, { at: 9_000, depart: gone.slice(5), join: newcomers }]
    })
    const s = r.scheduler.stats()
    t.diagnostic(`done at ${r.jobs.j.doneAt} ms virtual; executions/task ${perTask(r.jobs.j).toFixed(3)}; timeouts ${s.timeouts}`)
    assert.equal(r.allSettled, true)
    assert.equal(r.failed, 0)
    assert.equal(r.wrongFinal, 0)
    assert.deepEqual(r.jobsDone, ['j'])
  })

  it('replays a seed exactly and diverges on another (seeds 5, 6)', () => {
    const run = (seed: number): string => simulate({ seed, workers: workers(20, { liar: 2, colluder: 2, silent: 1, sleeper: 2 }, new Prng(seed)), jobs: [{ id: 'j', tasks: 500 }] }).hash
    assert.equal(run(5), run(5))
    assert.notEqual(run(5), run(6))
  })
})
