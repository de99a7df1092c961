// The compute Scheduler by hand: quorum, escalation, placement, timeouts,
// departures, spot-checks, blacklisting with backtracking, reputations,
// refusals and determinism. Seeds are named; random policy draws are switched
// off (rates 0 or 1) where a test needs one exact path.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Scheduler, groupCredibility, workerCredibility } from '../src/scheduler/index.ts'
import type { AssignEffect, SchedulerEffect, SchedulerInit, SchedulerInput, Task, WorkerInfo } from '../src/scheduler/index.ts'

const SELF = 'coord'
/** No random checks, no audit: the vote alone decides. */
const PLAIN: Partial<SchedulerInit> = { spotCheckRate: 0, newSpotCheckRate: 0, conflictCheckRate: 0, finalAudit: false }

function tasks (n: number, prefix = 't'): Task[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, module: 'bafymod', input: `bafyin${i}`, fuelLimit: 1000 }))
}

function members (...peers: Array<string | [string, number] | [string, number, number]>): WorkerInfo[] {
  return peers.map(p => typeof p === 'string'
    ? { peer: p, roles: ['compute'], capacity: 4, load: 0 }
    : { peer: p[0], roles: ['compute'], capacity: p[1], load: p[2] ?? 0 })
}

/** A scheduler with a little driver: `feed` steps it and keeps every effect. */
function harness (init: Partial<SchedulerInit> = {}) {
  const s = new Scheduler({ self: SELF, seed: 1, timeoutMs: 1000, minFuelPerMs: 1000, ...init })
  const all: SchedulerEffect[] = []
  const feed = (input: SchedulerInput): SchedulerEffect[] => {
    const out = s.step(input)
    all.push(...out)
    return out
  }
  const of = <T extends SchedulerEffect['type']>(effects: SchedulerEffect[], type: T): Array<Extract<SchedulerEffect, { type: T }>> =>
    effects.filter(e => e.type === type) as Array<Extract<SchedulerEffect, { type: T }>>
  const answer = (a: { assignment: string, worker: string }, commitment: string, now = 10): SchedulerEffect[] =>
    feed({ type: 'result', now, assignment: a.assignment, worker: a.worker, commitment, output: `out-${commitment}`, fuel: 7 })
  return { s, all, feed, of, answer }
}

describe('scheduler: quorum and escalation', () => {
  it('accepts a task when a quorum of distinct workers return the same commitment (seed 1)', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c') })
    const assigns = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), 'assign')
    assert.equal(assigns.length, 2)
    assert.notEqual(assigns[0].worker, assigns[1].worker)
    assert.deepEqual(h.of(h.answer(assigns[0], 'C'), 'accepted'), [])
    const out = h.answer(assigns[1], 'C')
    const [acc] = h.of(out, 'accepted')
    assert.equal(acc.commitment, 'C')
    assert.equal(acc.output, 'out-C')
    assert.equal(acc.verified, false)
    assert.deepEqual(acc.workers.sort(), [assigns[0].worker, assigns[1].worker].sort())
    assert.ok(acc.credibility > 0 && acc.credibility < 1)
    assert.deepEqual(h.of(out, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 1, failed: 0 }])
  })

  it('escalates replication on a mismatch and rejects the outvoted result (seed 1)', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c', 'd') })
    const [x, y] = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), 'assign')
    h.answer(x, 'GOOD')
    const more = h.of(h.answer(y, 'BAD'), 'assign')
    assert.equal(more.length, 1, 'one more replica: a third result can break the tie')
    assert.ok(![x.worker, y.worker].includes(more[0].worker))
    const out = h.answer(more[0], 'GOOD')
    assert.equal(h.of(out, 'accepted')[0].commitment, 'GOOD')
    assert.deepEqual(h.of(out, 'rejected').map(r => [r.worker, r.reason]), [[y.worker, 'outvoted']])
    assert.equal(h.s.reputation().workers.find(w => w.peer === y.worker)!.invalid, 1)
  })

  it('gives up with no-agreement when escalation reaches maxReplicas without a winner and checks are off (seed 1)', () => {
    const h = harness({ ...PLAIN, maxReplicas: 3 })
    h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c', 'd') })
    const pending = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), 'assign')
    // escalation exhausted: the coordinator is asked to decide; it cannot run the task either
    let n = 0
    const failed: SchedulerEffect[] = []
    while (pending.length > 0) {
      const a = pending.shift()!
      const out = h.answer(a, `X${n++}`)
      pending.push(...h.of(out, 'assign'))
      for (const v of h.of(out, 'verify-locally')) failed.push(...h.feed({ type: 'failed', now: 20, assignment: v.assignment, worker: SELF, reason: 'no sandbox' }))
      failed.push(...out)
    }
    assert.equal(n, 3)
    assert.deepEqual(h.of(failed, 'task-failed').map(e => e.reason), ['no-agreement'])
  })
})

describe('scheduler: placement', () => {
  it('never gives two replicas of one task to the same worker; waits for a second worker (seed 1)', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'members', now: 0, members: members(['a', 10]) })
    const first = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(3) } }), 'assign')
    assert.equal(first.length, 3)
    assert.ok(first.every(a => a.worker === 'a'))
    for (const a of first) assert.deepEqual(h.of(h.answer(a, 'C'), 'assign'), [])
    const second = h.of(h.feed({ type: 'members', now: 20, members: members(['a', 10], ['b', 10]) }), 'assign')
    assert.deepEqual(second.map(a => a.worker), ['b', 'b', 'b'])
  })

  it('with results in hand and no distinct worker left, the coordinator decides within a second, not a job timeout (seed 1)', () => {
    const h = harness({ seed: 1 })
    h.feed({ type: 'members', now: 0, members: members(['a', 1]) })
    const [a] = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1), timeoutMs: 60_000 } }), 'assign')
    h.answer(a, 'C')
    // the only worker is used: nothing to assign; a check is due at the next scan
    assert.deepEqual(h.of(h.feed({ type: 'tick', now: 500 }), 'verify-locally'), [])
    const checks = h.of(h.feed({ type: 'tick', now: 1000 }), 'verify-locally')
    assert.equal(checks.length, 1)
  })

  it('respects capacity and prefers the least loaded worker (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    h.feed({ type: 'members', now: 0, members: members(['busy', 3, 0.9], ['idle', 2, 0], ['none', 0, 0]) })
    const out = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(10) } }), 'assign')
    const per = (w: string): number => out.filter(a => a.worker === w).length
    assert.equal(out.length, 5)
    assert.equal(per('idle'), 2)
    assert.equal(per('busy'), 3)
    assert.equal(per('none'), 0)
    assert.equal(out[0].worker, 'idle', 'lowest load first')
    // a result frees a slot, which is refilled at once
    const next = h.of(h.answer(out.find(a => a.worker === 'idle')!, 'C'), 'assign')
    assert.deepEqual(next.map(a => a.worker), ['idle'])
  })

  it('property: random answers, failures, timeouts and departures never overload a worker nor double a replica (seed 42)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(5), fc.nat(3)), { maxLength: 80 }), fc.integer({ min: 1, max: 1000 }), (script, seed) => {
      const h = harness({ seed, maxAttempts: 50 })
      const caps: Record<string, number> = { a: 1, b: 2, c: 1, d: 3 }
      let view = members(['a', 1], ['b', 2], ['c', 1], ['d', 3])
      h.feed({ type: 'members', now: 0, members: view })
      h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(6), replicas: 3, quorum: 2 } })
      const live = new Map<string, AssignEffect>()
      const given = new Set<string>()
      const check = (effects: SchedulerEffect[]): void => {
        for (const e of effects) {
          if (e.type === 'assign') {
            const key = `${e.task}/${e.worker}`
            assert.ok(!given.has(key), `replica of ${e.task} given twice to ${e.worker}`)
            given.add(key)
            live.set(e.assignment, e)
          } else if (e.type === 'cancel') live.delete(e.assignment)
        }
        for (const w of Object.keys(caps)) assert.ok([...live.values()].filter(a => a.worker === w).length <= caps[w])
      }
      check(h.all)
      let now = 1
      for (const [op, arg] of script) {
        now += 100
        const pendingList = [...live.values()]
        const a = pendingList[arg % Math.max(1, pendingList.length)]
        if (op <= 1 && a !== undefined) {
          live.delete(a.assignment)
          check(h.answer(a, arg === 0 && op === 1 ? 'BAD' : 'C', now))
        } else if (op === 2 && a !== undefined) {
          live.delete(a.assignment)
          check(h.feed({ type: 'failed', now, assignment: a.assignment, worker: a.worker, reason: 'oom' }))
        } else if (op === 3) {
          now += 5000
          const before = new Set(live.keys())
          const out = h.feed({ type: 'tick', now })
          for (const e of out) if (e.type === 'cancel') before.delete(e.assignment)
          check(out)
        } else if (op === 4) {
          const gone = ['a', 'b', 'c', 'd'][arg]
          view = view.filter(m => m.peer !== gone)
          for (const [id, x] of live) if (x.worker === gone) live.delete(id)
          check(h.feed({ type: 'members', now, members: view }))
        } else {
          for (const v of h.all.filter(e => e.type === 'verify-locally')) {
            try {
              check(h.feed({ type: 'result', now, assignment: v.assignment, worker: SELF, commitment: 'C', output: 'o', fuel: 1 }))
            } catch (err) {
              if (!['UnknownAssignmentError', 'DuplicateResultError'].includes((err as Error).name)) throw err
            }
          }
        }
      }
    }), { numRuns: 150, seed: 42 })
  })
})

describe('scheduler: timeouts and departures', () => {
  it('a tick that comes before the time it asked for asks again, so the deadline still fires (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    h.feed({ type: 'members', now: 0, members: members(['a', 1], ['b', 1]) })
    const out = h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } })
    const [a] = h.of(out, 'assign')
    const [timer] = h.of(out, 'timer')
    // the driver's timer fires early by the clock it passes in: nothing is due yet
    const early = h.feed({ type: 'tick', now: timer.at - 1 })
    assert.deepEqual(h.of(early, 'cancel'), [])
    const [again] = h.of(early, 'timer')
    assert.ok(again != null && again.at === timer.at, 'the timer is asked for again')
    // other inputs meanwhile (here a second job) do not swallow it
    h.feed({ type: 'submit', now: timer.at - 1, job: { id: 'k', tasks: tasks(1, 'u') } })
    let now = timer.at
    let fired = false
    for (let i = 0; i < 10 && !fired; i++) {
      const next = h.feed({ type: 'tick', now })
      fired = h.of(next, 'cancel').some(c => c.assignment === a.assignment)
      now = h.of(next, 'timer')[0]?.at ?? now + 1
    }
    assert.ok(fired, 'the assignment timed out')
  })

  it('reassigns an assignment that times out to another worker, and asks for ticks (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    h.feed({ type: 'members', now: 0, members: members(['a', 1], ['b', 1]) })
    const out = h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } })
    const [a] = h.of(out, 'assign')
    assert.equal(a.deadline, 0 + 1000 + 1000 / 1000)
    const [timer] = h.of(out, 'timer')
    assert.ok(timer.at <= a.deadline)
    assert.deepEqual(h.feed({ type: 'tick', now: a.deadline - 1 }), [{ type: 'timer', at: a.deadline }])
    const later = h.feed({ type: 'tick', now: a.deadline })
    assert.deepEqual(h.of(later, 'cancel'), [{ type: 'cancel', assignment: a.assignment, worker: a.worker }])
    const [b] = h.of(later, 'assign')
    assert.notEqual(b.worker, a.worker)
    // the late answer of the timed-out worker is refused
    assert.throws(() => h.answer(a, 'C', 2000), { name: 'UnknownAssignmentError' })
    assert.equal(h.of(h.answer(b, 'C', 2000), 'accepted').length, 1)
    assert.equal(h.s.stats().timeouts, 1)
  })

  it('deadlines count the queue: an assignment waiting behind a worker\'s busy slots gets their longest runs on top (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    // one worker, 2 slots, 6 assignments: the first 2 run at once, the next 4 queue behind them
    h.feed({ type: 'members', now: 0, members: [{ peer: 'a', roles: ['compute'], capacity: 6, slots: 2, load: 0 }] })
    const run = 10_000 / 1000 // fuelLimit / minFuelPerMs
    const job = { id: 'j', tasks: tasks(6).map(t => ({ ...t, fuelLimit: 10_000 })) }
    const first = h.of(h.feed({ type: 'submit', now: 0, job }), 'assign')
    assert.deepEqual(first.map(a => a.deadline), [0, 0, 2, 3, 4, 5].map(ahead => 1000 + run + ahead * run / 2))
    // a tick at the deadline of the first ones times out only those; the queued ones still have time
    const t = h.feed({ type: 'tick', now: 1000 + run })
    assert.deepEqual(h.of(t, 'cancel').map(c => c.assignment), first.slice(0, 2).map(a => a.assignment))
    // answered work leaves the queue: a new job's first two wait for nothing, its third for them
    for (const a of first.slice(2)) h.answer(a, 'C', 1011)
    const again = h.of(h.feed({ type: 'submit', now: 1012, job: { ...job, id: 'j2', tasks: job.tasks.slice(0, 3) } }), 'assign')
    assert.deepEqual(again.map(a => a.deadline), [0, 0, 2].map(ahead => 1012 + 1000 + run + ahead * run / 2))
  })

  it('without slots, a worker runs all it takes at once: every deadline is the job timeout plus the task\'s own longest run (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    h.feed({ type: 'members', now: 0, members: members(['a', 4]) })
    const assigns = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(4) } }), 'assign')
    assert.deepEqual(assigns.map(a => a.deadline), [1001, 1001, 1001, 1001])
    assert.throws(() => h.feed({ type: 'members', now: 0, members: [{ peer: 'a', roles: ['compute'], capacity: 4, slots: 0, load: 0 }] }), { name: 'MalformedInputError' })
  })

  it('reassigns the work of a departed worker, and of one missing from a new member view (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1 })
    h.feed({ type: 'members', now: 0, members: members(['a', 1], ['b', 1], ['c', 1]) })
    const first = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(2) } }), 'assign')
    const gone = first[0]
    const re = h.of(h.feed({ type: 'departed', now: 5, peer: gone.worker }), 'assign')
    assert.equal(re.length, 1)
    assert.equal(re[0].task, gone.task)
    assert.ok(![gone.worker, first[1].worker].includes(re[0].worker))
    // a view without first[1]'s worker: it departed too; nobody is left to take it but a newcomer
    const re2 = h.of(h.feed({ type: 'members', now: 6, members: members(['d', 1], [re[0].worker, 1]) }), 'assign')
    assert.deepEqual(re2.map(a => [a.task, a.worker]), [[first[1].task, 'd']])
    h.answer(re[0], 'C')
    const out = h.answer(re2[0], 'C')
    assert.deepEqual(h.of(out, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 2, failed: 0 }])
  })

  it('fails tasks with no-workers when nobody can take them for a job timeout (seed 1)', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(2) } })
    const out = h.feed({ type: 'tick', now: 1000 })
    assert.deepEqual(h.of(out, 'task-failed').map(e => e.reason), ['no-workers', 'no-workers'])
    assert.deepEqual(h.of(out, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 0, failed: 2 }])
  })
})

describe('scheduler: a worker that fails everything', () => {
  it('rests after BACKOFF_AFTER failures in a row, so it cannot burn every waiting task\'s attempts (seed 1)', () => {
    const h = harness({ ...PLAIN, replicas: 1, quorum: 1, maxAttempts: 3 })
    // 'hole' takes work and fails it at once (a tab whose lease was just revoked); 'good' answers
    h.feed({ type: 'members', now: 0, members: members(['hole', 4], ['good', 1]) })
    let pending = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(40) } }), 'assign')
    let toHole = 0
    for (let now = 1; pending.length > 0 && now < 10_000; now++) {
      const next: AssignEffect[] = []
      for (const a of pending) {
        if (a.worker === 'hole') {
          toHole++
          next.push(...h.of(h.feed({ type: 'failed', now, assignment: a.assignment, worker: a.worker, reason: 'NoLeaseError' }), 'assign'))
        } else {
          next.push(...h.of(h.answer(a, `C-${a.task}`, now), 'assign'))
        }
      }
      pending = next
    }
    const done = h.of(h.all, 'job-done')
    assert.deepEqual(done, [{ type: 'job-done', job: 'j', accepted: 40, failed: 0 }], 'every task was accepted')
    // the first assignments went out before any failure; after two failures in a row it rests
    assert.ok(toHole <= 4 + 2, `the failing worker was given ${toHole} assignments`)
  })
})

describe('scheduler: spot-checks, blacklisting, backtracking', () => {
  it('checks a disagreement locally: the liar is blacklisted and the truth accepted (seed 1)', () => {
    const h = harness({ ...PLAIN, conflictCheckRate: 1 })
    h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c') })
    const [x, y] = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(2) } }), 'assign').filter(a => a.task === 't0')
    h.answer(x, 'GOOD')
    const out = h.answer(y, 'BAD')
    const [v] = h.of(out, 'verify-locally')
    assert.equal(v.task, 't0')
    const res = h.feed({ type: 'result', now: 20, assignment: v.assignment, worker: SELF, commitment: 'GOOD', output: 'o', fuel: 7 })
    assert.deepEqual(h.of(res, 'blacklisted').map(e => e.worker), [y.worker])
    const [acc] = h.of(res, 'accepted')
    assert.equal(acc.verified, true)
    assert.equal(acc.credibility, 1)
    assert.deepEqual(acc.workers, [x.worker])
    assert.equal(h.s.credibility(y.worker), 0)
    assert.equal(h.s.reputation().workers.find(w => w.peer === x.worker)!.checks, 1)
    // the blacklisted worker's outstanding work was cancelled and it gets no more
    assert.ok(h.of(h.all, 'assign').filter(a => a.worker === y.worker).every(a => a.task === 't0' || h.of(h.all, 'cancel').some(c => c.assignment === a.assignment)))
  })

  it('backtracks: a trusted worker caught by the final audit has every result accepted on its word reopened and redone (seed 3)', () => {
    // trust from the start, so tasks go to one worker alone
    const h = harness({ ...PLAIN, finalAudit: true, trustAfter: 0, trustCredibility: 0, seed: 3 })
    h.feed({ type: 'members', now: 0, members: members(['liar', 3]) })
    const first = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(3) } }), 'assign')
    assert.equal(first.length, 3, 'one replica each: the worker is trusted')
    let out: SchedulerEffect[] = []
    for (const a of first) out = h.answer(a, `WRONG-${a.task}`)
    assert.equal(h.of(h.all, 'accepted').length, 3)
    assert.deepEqual(h.of(out, 'job-done'), [], 'the job waits for its audit')
    const [audit] = h.of(out, 'verify-locally')
    h.feed({ type: 'members', now: 15, members: members(['liar', 3], ['honest', 3]) })
    const res = h.feed({ type: 'result', now: 20, assignment: audit.assignment, worker: SELF, commitment: `RIGHT-${audit.task}`, output: 'o', fuel: 7 })
    assert.deepEqual(h.of(res, 'blacklisted').map(e => e.worker), ['liar'])
    assert.deepEqual(h.of(res, 'reopened').map(e => e.task).sort(), ['t0', 't1', 't2'])
    assert.deepEqual(h.of(res, 'accepted').map(e => [e.task, e.commitment]), [[audit.task, `RIGHT-${audit.task}`]])
    const redo = h.of(res, 'assign')
    assert.deepEqual(redo.map(a => a.worker), ['honest', 'honest'])
    for (const a of redo) out = h.answer(a, `RIGHT-${a.task}`, 30)
    // the honest worker's word is audited too before the job is done
    const [audit2] = h.of(out, 'verify-locally')
    const done = h.feed({ type: 'result', now: 40, assignment: audit2.assignment, worker: SELF, commitment: `RIGHT-${audit2.task}`, output: 'o', fuel: 7 })
    assert.deepEqual(h.of(done, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 3, failed: 0 }])
    assert.equal(h.s.stats().reopened, 3)
  })

  it('adaptive replication: a worker with spot-checks passed and a run of valid results gets tasks alone (seed 5)', () => {
    const h = harness({ spotCheckRate: 0, newSpotCheckRate: 1, conflictCheckRate: 1, finalAudit: false, trustAfter: 3, trustCredibility: workerCredibility(3, 1 / 3), seed: 5 })
    h.feed({ type: 'members', now: 0, members: members(['a', 1], ['b', 1]) })
    let pending = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(6) } }), 'assign')
    let now = 1
    while (!h.s.isTrusted('a')) {
      const out: SchedulerEffect[] = []
      for (const a of pending) out.push(...h.answer(a, `C-${a.task}`, now++))
      for (const v of h.of(out, 'verify-locally')) out.push(...h.feed({ type: 'result', now: now++, assignment: v.assignment, worker: SELF, commitment: `C-${v.task}`, output: 'o', fuel: 1 }))
      pending = h.of(out, 'assign')
    }
    assert.equal(h.s.reputation().workers.find(w => w.peer === 'a')!.checks, 3)
    // now the next task is carried by a or b alone
    const out: SchedulerEffect[] = []
    for (const a of pending) out.push(...h.answer(a, `C-${a.task}`, now++))
    const alone = h.of(out, 'assign')
    assert.ok(alone.length >= 1)
    const accepted = h.of(h.answer(alone[0], `C-${alone[0].task}`, now++), 'accepted')
    assert.equal(accepted.length, 1)
    assert.deepEqual(accepted[0].workers, [alone[0].worker])
  })
})

describe('scheduler: reputation, refusals, determinism', () => {
  it('exports and imports reputations (round trip, trust carries over)', () => {
    const h = harness({ ...PLAIN, conflictCheckRate: 1 })
    h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c') })
    const [x, y] = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), 'assign')
    h.answer(x, 'G')
    const [v] = h.of(h.answer(y, 'B'), 'verify-locally')
    h.feed({ type: 'result', now: 20, assignment: v.assignment, worker: SELF, commitment: 'G', output: 'o', fuel: 1 })
    const snap = h.s.reputation()
    assert.equal(snap.workers.find(w => w.peer === y.worker)!.blacklisted, true)
    const copy = JSON.parse(JSON.stringify(snap))
    const t = new Scheduler({ self: SELF, seed: 9, reputation: copy })
    assert.deepEqual(t.reputation(), snap)
    // the blacklisted worker gets nothing from the new scheduler
    t.step({ type: 'members', now: 0, members: members('a', 'b', 'c') })
    const out = t.step({ type: 'submit', now: 0, job: { id: 'k', tasks: tasks(3) } })
    assert.ok(out.every(e => e.type !== 'assign' || e.worker !== y.worker))
    // trusted workers stay trusted
    const trusted = { v: 1 as const, workers: [{ peer: 'a', checks: 100, consecutiveValid: 50, valid: 50, invalid: 0, blacklisted: false }] }
    assert.equal(new Scheduler({ self: SELF, seed: 1, reputation: trusted }).isTrusted('a'), true)
    assert.throws(() => new Scheduler({ self: SELF, seed: 1, reputation: { v: 2 } as never }), { name: 'MalformedInputError' })
  })

  it('refuses bad inputs with named errors and carries on unchanged', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'members', now: 0, members: members('a', 'b') })
    const [x, y] = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), 'assign')
    const result = (assignment: string, worker: string): SchedulerInput => ({ type: 'result', now: 5, assignment, worker, commitment: 'C', output: 'o', fuel: 1 })
    assert.throws(() => h.feed(result('nope', 'a')), { name: 'UnknownAssignmentError' })
    assert.throws(() => h.feed(result(x.assignment, y.worker)), { name: 'NotAssignedError' })
    assert.throws(() => h.feed(result(x.assignment, 'stranger')), { name: 'NotAssignedError' })
    h.answer(x, 'C')
    assert.throws(() => h.answer(x, 'C'), { name: 'DuplicateResultError' })
    assert.throws(() => h.feed(result(x.assignment, 'stranger')), { name: 'NotAssignedError' })
    assert.throws(() => h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(1) } }), { name: 'DuplicateJobError' })
    assert.throws(() => h.feed({ type: 'submit', now: 0, job: { id: 'k', tasks: [] } }), { name: 'MalformedJobError' })
    assert.throws(() => h.feed({ type: 'submit', now: 0, job: { id: 'k', tasks: tasks(1), replicas: 2, quorum: 3 } }), { name: 'MalformedJobError' })
    assert.throws(() => h.feed({ type: 'submit', now: 0, job: { id: 'k', tasks: [...tasks(1), ...tasks(1)] } }), (e: Error & { field?: string }) => e.name === 'MalformedJobError' && e.field === 'tasks[1].id')
    assert.throws(() => h.feed({ type: 'submit', now: 0, job: { id: 'k', tasks: [{ id: 'x', module: 'm', input: 'i', fuelLimit: -1 }] } }), { name: 'MalformedJobError' })
    assert.throws(() => h.feed({ type: 'result', now: 5, assignment: y.assignment, worker: y.worker, commitment: '', output: 'o', fuel: 1 }), { name: 'MalformedInputError' })
    assert.throws(() => h.feed({ type: 'bogus', now: 0 } as never), { name: 'MalformedInputError' })
    assert.throws(() => h.feed({ type: 'tick', now: Number.NaN }), { name: 'MalformedInputError' })
    assert.throws(() => h.feed({ type: 'cancel-job', now: 0, job: 'nope' }), { name: 'UnknownJobError' })
    assert.throws(() => h.feed({ type: 'members', now: 0, members: [{ peer: 'z', roles: [], capacity: -1, load: 0 }] }), { name: 'MalformedInputError' })
    // unchanged: the outstanding replica still completes the job
    const out = h.answer(y, 'C')
    assert.equal(h.of(out, 'accepted').length, 1)
    assert.deepEqual(h.of(out, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 1, failed: 0 }])
  })

  it('cancel-job fails the open tasks, cancels their assignments, then forgets the job', () => {
    const h = harness(PLAIN)
    h.feed({ type: 'members', now: 0, members: members('a', 'b') })
    const assigns = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(2) } }), 'assign')
    h.answer(assigns[0], 'C')
    const out = h.feed({ type: 'cancel-job', now: 5, job: 'j' })
    assert.equal(h.of(out, 'cancel').length, assigns.length - 1)
    assert.deepEqual(h.of(out, 'task-failed').map(e => e.reason), ['cancelled', 'cancelled'])
    assert.deepEqual(h.of(out, 'job-done'), [{ type: 'job-done', job: 'j', accepted: 0, failed: 2 }])
    assert.deepEqual(h.feed({ type: 'cancel-job', now: 6, job: 'j' }), [])
    assert.throws(() => h.feed({ type: 'cancel-job', now: 7, job: 'j' }), { name: 'UnknownJobError' })
    h.feed({ type: 'submit', now: 8, job: { id: 'j', tasks: tasks(1) } })
  })

  it('is deterministic: the same seed and inputs give the same effects; another seed differs', () => {
    const run = (seed: number): string => {
      const h = harness({ seed })
      h.feed({ type: 'members', now: 0, members: members('a', 'b', 'c', 'd', 'e') })
      let pending = h.of(h.feed({ type: 'submit', now: 0, job: { id: 'j', tasks: tasks(40) } }), 'assign')
      let now = 1
      while (pending.length > 0) {
        const out: SchedulerEffect[] = []
        for (const a of pending) {
          try {
            out.push(...h.answer(a, a.worker === 'e' ? 'BAD' : `C-${a.task}`, now++))
          } catch (err) {
            assert.equal((err as Error).name, 'UnknownAssignmentError') // cancelled meanwhile (a check decided it)
          }
        }
        for (const v of h.of(out, 'verify-locally')) out.push(...h.feed({ type: 'result', now: now++, assignment: v.assignment, worker: SELF, commitment: `C-${v.task}`, output: 'o', fuel: 1 }))
        pending = h.of(out, 'assign')
      }
      return JSON.stringify(h.all)
    }
    assert.equal(run(11), run(11))
    assert.notEqual(run(11), run(12))
  })
})

describe('scheduler: credibility (Sarmenta)', () => {
  it('worker credibility is 1 − f before any check and 1 − f/((1−f)·k·e) after k', () => {
    assert.equal(workerCredibility(0, 0.2), 0.8)
    assert.ok(Math.abs(workerCredibility(10, 0.2) - (1 - 0.2 / (0.8 * 10 * Math.E))) < 1e-12)
    assert.ok(workerCredibility(19, 1 / 3) >= 0.99 && workerCredibility(18, 1 / 3) < 0.99)
  })

  it('group credibility: one group is its members all right, against colluding alternatives', () => {
    assert.ok(Math.abs(groupCredibility([[0.9]], 0) - 0.9) < 1e-12)
    // two agreeing at 2/3 each, nothing against: (4/9) / (4/9 + 1/9)
    assert.ok(Math.abs(groupCredibility([[2 / 3, 2 / 3]], 0) - 0.8) < 1e-12)
    const a = groupCredibility([[0.9, 0.9], [0.9]], 0)
    const b = groupCredibility([[0.9, 0.9], [0.9]], 1)
    assert.ok(a > b && a + b <= 1)
  })
})
