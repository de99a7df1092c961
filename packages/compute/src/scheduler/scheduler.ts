// The compute Scheduler: a sans-I/O state machine run by the coordinator.
// Policy (README.md "Policy"): k replicas and a quorum q of matching
// commitments for untrusted work; a worker with a spot-checked record
// (Sarmenta credibility) and a run of valid results (BOINC) gets tasks alone;
// spot-checks are local re-executions by the coordinator, decided after the
// answers are in so a worker cannot tell; a worker caught lying is
// blacklisted and every result accepted on its word is reopened.
import * as C from './constants.ts'
import {
  DuplicateJobError, DuplicateResultError, MalformedInputError, MalformedJobError, NotAssignedError,
  UnknownAssignmentError, UnknownJobError
} from './errors.ts'
import { Prng } from '@webfabric/protocol'
import type {
  Job, ReputationSnapshot, SchedulerEffect, SchedulerInit, SchedulerInput, SchedulerStats, Task, WorkerInfo,
  WorkerReputation
} from './types.ts'

/** How often tasks that no present worker can take are looked at (ms). */
const STUCK_SCAN_MS = 1000

/** Sarmenta's credibility of a worker that passed `checks` spot-checks, with blacklisting: 1 − f/((1−f)·k·e); 1 − f before any. */
export function workerCredibility (checks: number, f: number): number {
  if (checks <= 0 || f <= 0) return 1 - f
  return Math.max(1 - f, 1 - f / ((1 - f) * checks * Math.E))
}

/**
 * Sarmenta's credibility of result group `index` among `groups` (each a list of worker credibilities),
 * assuming saboteurs collude: P_T(Ga)·Π_{b≠a} P_F(Gb) / (Σ_j P_T(Gj)·Π_{i≠j} P_F(Gi) + Π_i P_F(Gi)).
 */
export function groupCredibility (groups: number[][], index: number): number {
  const pt = groups.map(g => g.reduce((p, c) => p * c, 1))
  const pf = groups.map(g => g.reduce((p, c) => p * (1 - c), 1))
  const allFalse = pf.reduce((p, x) => p * x, 1)
  let denominator = allFalse
  let numerator = 0
  for (let j = 0; j < groups.length; j++) {
    let term = pt[j]
    for (let i = 0; i < groups.length; i++) if (i !== j) term *= pf[i]
    denominator += term
    if (j === index) numerator = term
  }
  return denominator === 0 ? 0 : numerator / denominator
}

interface WorkerState {
  rep: WorkerReputation
  present: boolean
  capacity: number
  /** Executions it runs at once; assignments beyond them wait in its queue. */
  slots: number
  load: number
  /** Outstanding assignments. */
  active: number
  /** Σ of the outstanding assignments' longest run (fuelLimit / minFuelPerMs): the work queued at it, at worst. */
  activeMs: number
  /** assignments in a row that timed out or failed (no result); reset by a result */
  missesInRow: number
  restUntil: number
  /** Fixed random tie-breaker, so equal workers are not always picked in the same order. */
  salt: number
  /** Accepted tasks that rest on this worker's word (unverified). */
  word: Set<TaskState>
}

interface ResultRec {
  assignment: string
  worker: string
  commitment: string
  output: string
  fuel: number
}

interface Assignment {
  id: string
  task: TaskState
  /** The worker; `self` for a local check. */
  worker: string
  check: boolean
  /** A check the job's final audit asked for. */
  audit: boolean
  deadline: number
}

interface Acceptance {
  commitment: string
  output: string
  fuel: number
  workers: string[]
  verified: boolean
}

interface TaskState {
  job: JobState
  task: Task
  status: 'open' | 'accepted' | 'failed'
  results: ResultRec[]
  /** Outstanding work assignments (not checks). */
  outstanding: Set<Assignment>
  /** The outstanding local check, if any. */
  check: Assignment | null
  /** A local check could not run: decide without one. */
  checkFailed: boolean
  /** Results wanted now (escalates on conflict). */
  target: number
  /** Matching results needed (1 when carried by one trusted worker). */
  quorum: number
  /** Results disagreed, or it was reopened: decided only after a check (or a vote if the check is not drawn). */
  suspect: boolean
  attempts: number
  /** Every worker ever given it: never two replicas on one worker. */
  used: Set<string>
  accepted: Acceptance | null
  /** When it started waiting for a worker (for 'no-workers'). */
  waitingSince: number
}

interface JobState {
  id: string
  k: number
  q: number
  timeoutMs: number
  tasks: TaskState[]
  settled: number
  accepted: number
  failed: number
  finished: boolean
  cancelled: boolean
  /** Workers already audited for this job. */
  audited: Set<string>
  audits: number
  /** Every assignment id issued for it (to forget them with the job). */
  assignmentIds: string[]
}

/** A binary min-heap of (at, id). */
class DeadlineHeap {
  private at: number[] = []
  private ids: string[] = []

  get size (): number { return this.at.length }
  peekAt (): number { return this.at.length === 0 ? Infinity : this.at[0] }
  peekId (): string { return this.ids[0] }

  push (at: number, id: string): void {
    this.at.push(at)
    this.ids.push(id)
    let i = this.at.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.at[p] <= at) break
      this.swap(i, p)
      i = p
    }
  }

  pop (): void {
    const last = this.at.length - 1
    this.swap(0, last)
    this.at.pop()
    this.ids.pop()
    let i = 0
    const n = this.at.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.at[l] < this.at[m]) m = l
      if (r < n && this.at[r] < this.at[m]) m = r
      if (m === i) break
      this.swap(i, m)
      i = m
    }
  }

  private swap (i: number, j: number): void {
    const a = this.at[i]
    this.at[i] = this.at[j]
    this.at[j] = a
    const s = this.ids[i]
    this.ids[i] = this.ids[j]
    this.ids[j] = s
  }
}

const MAX_TASKS = 1_000_000
const MAX_ID = 256
const MAX_SCAN_UNPLACEABLE = 256

function isText (x: unknown, max = MAX_ID): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= max
}

function isTime (x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x)
}

function posInt (x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max
}

function rate (x: unknown, name: string): number {
  if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw new RangeError(`${name} must be in [0, 1]`)
  return x
}

/** The coordinator's scheduler for one origin. */
export class Scheduler {
  private readonly self: string
  private readonly rng: Prng
  private readonly k: number
  private readonly q: number
  private readonly maxReplicas: number
  private readonly maxAttempts: number
  private readonly timeoutMs: number
  private readonly minFuelPerMs: number
  private readonly f: number
  private readonly trustCredibility: number
  private readonly trustAfter: number
  private readonly spotCheckRate: number
  private readonly newSpotCheckRate: number
  private readonly conflictCheckRate: number
  private readonly finalAudit: boolean

  private readonly workers = new Map<string, WorkerState>()
  private readonly jobs = new Map<string, JobState>()
  private readonly assignments = new Map<string, Assignment>()
  /** Answered assignment ids → who answered (DuplicateResultError vs NotAssignedError). */
  private readonly answered = new Map<string, string>()
  /** Tasks that want more assignments, oldest first. */
  private readonly wanting = new Set<TaskState>()
  private readonly deadlines = new DeadlineHeap()
  private nextId = 0
  private now = 0
  private pendingTimer = Infinity
  private nextStuckCheck = Infinity
  private readonly counters: SchedulerStats = { assigned: 0, results: 0, verifications: 0, timeouts: 0, accepted: 0, reopened: 0, blacklisted: 0 }

  constructor (init: SchedulerInit) {
    if (!isText(init.self, 4096)) throw new RangeError('self must be the coordinator\'s peer id')
    this.self = init.self
    this.rng = new Prng(init.seed)
    this.k = init.replicas ?? C.REPLICAS
    this.q = init.quorum ?? C.QUORUM
    this.maxReplicas = init.maxReplicas ?? Math.max(C.MAX_REPLICAS, this.k)
    if (!posInt(this.k, 1, 64) || !posInt(this.q, 1, this.k) || !posInt(this.maxReplicas, this.k, 64)) {
      throw new RangeError('need 1 ≤ quorum ≤ replicas ≤ maxReplicas ≤ 64')
    }
    this.maxAttempts = init.maxAttempts ?? Math.max(C.MAX_ATTEMPTS, 2 * this.maxReplicas)
    this.timeoutMs = init.timeoutMs ?? C.TIMEOUT_MS
    this.minFuelPerMs = init.minFuelPerMs ?? C.MIN_FUEL_PER_MS
    this.f = rate(init.faultFraction ?? C.FAULT_FRACTION, 'faultFraction')
    this.trustCredibility = rate(init.trustCredibility ?? C.TRUST_CREDIBILITY, 'trustCredibility')
    this.trustAfter = init.trustAfter ?? C.TRUST_AFTER
    this.spotCheckRate = rate(init.spotCheckRate ?? C.SPOT_CHECK_RATE, 'spotCheckRate')
    this.newSpotCheckRate = rate(init.newSpotCheckRate ?? C.NEW_SPOT_CHECK_RATE, 'newSpotCheckRate')
    this.conflictCheckRate = rate(init.conflictCheckRate ?? C.CONFLICT_CHECK_RATE, 'conflictCheckRate')
    this.finalAudit = init.finalAudit ?? C.FINAL_AUDIT
    if (init.reputation !== undefined) this.importReputation(init.reputation)
  }

  // ------------------------------------------------------------ public

  /** Consumes one input; returns what to do, in order. Throws a named error (state unchanged) for refused inputs. */
  step (input: SchedulerInput): SchedulerEffect[] {
    if (typeof input !== 'object' || input === null) throw new MalformedInputError('input must be an object')
    if (!isTime(input.now)) throw new MalformedInputError('now must be a finite number of ms', { field: 'now' })
    const out: SchedulerEffect[] = []
    switch (input.type) {
      case 'submit': this.validateJob(input.job); break
      case 'members':
        if (!Array.isArray(input.members)) throw new MalformedInputError('members must be a list', { field: 'members' })
        input.members.forEach((m, i) => { this.validateMember(m, i) })
        break
      case 'result':
        if (!isText(input.commitment, 1024)) throw new MalformedInputError('commitment must be a string', { field: 'commitment' })
        if (typeof input.output !== 'string' || input.output.length > 1024) throw new MalformedInputError('output must be a CID string', { field: 'output' })
        if (typeof input.fuel !== 'number' || !(input.fuel >= 0)) throw new MalformedInputError('fuel must be a number ≥ 0', { field: 'fuel' })
        this.outstanding(input.assignment, input.worker)
        break
      case 'failed':
        this.outstanding(input.assignment, input.worker)
        break
      case 'departed':
        if (!isText(input.peer, 4096)) throw new MalformedInputError('peer must be a peer id', { field: 'peer' })
        break
      case 'tick': break
      case 'cancel-job':
        if (!this.jobs.has(input.job)) throw new UnknownJobError(`no job ${String(input.job)}`)
        break
      default: throw new MalformedInputError(`unknown input type ${String((input as { type: unknown }).type)}`, { field: 'type' })
    }
    // validated: from here on nothing throws
    this.now = Math.max(this.now, input.now)
    switch (input.type) {
      case 'submit': this.submit(input.job, out); break
      case 'members': this.members(input.members, out); break
      case 'result': this.onResult(input.assignment, input.commitment, input.output, input.fuel, out); break
      case 'failed': this.onFailed(input.assignment, out); break
      case 'departed': this.depart(input.peer, out); break
      case 'tick': this.tick(out); break
      case 'cancel-job': this.cancelJob(input.job, out); break
    }
    this.dispatch(out)
    this.requestTimer(out)
    return out
  }

  /** The origin's reputations, to persist and pass back as `SchedulerInit.reputation`. */
  reputation (): ReputationSnapshot {
    const workers = [...this.workers.values()].map(w => ({ ...w.rep })).sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
    return { v: 1, workers }
  }

  /** Work counters since construction. */
  stats (): SchedulerStats {
    return { ...this.counters }
  }

  /** Whether `peer` currently gets tasks alone (adaptive replication). */
  isTrusted (peer: string): boolean {
    const w = this.workers.get(peer)
    return w !== undefined && this.trusted(w)
  }

  /** Sarmenta credibility of `peer` (0 when blacklisted). */
  credibility (peer: string): number {
    const w = this.workers.get(peer)
    if (w === undefined) return 1 - this.f
    return w.rep.blacklisted ? 0 : workerCredibility(w.rep.checks, this.f)
  }

  // ------------------------------------------------------------ validation

  private importReputation (snap: ReputationSnapshot): void {
    if (typeof snap !== 'object' || snap === null || snap.v !== 1 || !Array.isArray(snap.workers)) {
      throw new MalformedInputError('reputation must be a ReputationSnapshot (v: 1)', { field: 'reputation' })
    }
    for (const r of snap.workers) {
      if (typeof r !== 'object' || r === null || !isText(r.peer, 4096) ||
        !posInt(r.checks, 0, Number.MAX_SAFE_INTEGER) || !posInt(r.consecutiveValid, 0, Number.MAX_SAFE_INTEGER) ||
        !posInt(r.valid, 0, Number.MAX_SAFE_INTEGER) || !posInt(r.invalid, 0, Number.MAX_SAFE_INTEGER) || typeof r.blacklisted !== 'boolean') {
        throw new MalformedInputError('reputation entry of the wrong shape', { field: 'reputation.workers' })
      }
      this.worker(r.peer).rep = { peer: r.peer, checks: r.checks, consecutiveValid: r.consecutiveValid, valid: r.valid, invalid: r.invalid, blacklisted: r.blacklisted }
    }
  }

  private validateJob (job: Job): void {
    if (typeof job !== 'object' || job === null) throw new MalformedJobError('job must be an object')
    if (!isText(job.id)) throw new MalformedJobError(`job.id must be a string of 1..${MAX_ID} characters`, { field: 'id' })
    if (this.jobs.has(job.id)) throw new DuplicateJobError(`job ${job.id} exists: choose another id, or cancel-job it first`)
    if (!Array.isArray(job.tasks) || job.tasks.length === 0 || job.tasks.length > MAX_TASKS) {
      throw new MalformedJobError(`job.tasks must hold 1..${MAX_TASKS} tasks`, { field: 'tasks' })
    }
    const k = job.replicas ?? this.k
    const q = job.quorum ?? Math.min(this.q, k)
    if (!posInt(k, 1, this.maxReplicas)) throw new MalformedJobError(`job.replicas must be in 1..${this.maxReplicas}`, { field: 'replicas' })
    if (!posInt(q, 1, k)) throw new MalformedJobError('job.quorum must be in 1..replicas', { field: 'quorum' })
    if (job.timeoutMs !== undefined && !(typeof job.timeoutMs === 'number' && job.timeoutMs > 0 && Number.isFinite(job.timeoutMs))) {
      throw new MalformedJobError('job.timeoutMs must be a positive number', { field: 'timeoutMs' })
    }
    const ids = new Set<string>()
    job.tasks.forEach((t, i) => {
      const at = `tasks[${i}]`
      if (typeof t !== 'object' || t === null) throw new MalformedJobError(`${at} must be an object`, { field: at })
      if (!isText(t.id)) throw new MalformedJobError(`${at}.id must be a string of 1..${MAX_ID} characters`, { field: `${at}.id` })
      if (ids.has(t.id)) throw new MalformedJobError(`${at}.id ${t.id} is used twice`, { field: `${at}.id` })
      ids.add(t.id)
      if (!isText(t.module, 1024)) throw new MalformedJobError(`${at}.module must be a CID string`, { field: `${at}.module` })
      if (!isText(t.input, 1024)) throw new MalformedJobError(`${at}.input must be a CID string`, { field: `${at}.input` })
      if (!posInt(t.fuelLimit, 1, Number.MAX_SAFE_INTEGER)) throw new MalformedJobError(`${at}.fuelLimit must be a positive integer`, { field: `${at}.fuelLimit` })
    })
  }

  private validateMember (m: WorkerInfo, i: number): void {
    const at = `members[${i}]`
    if (typeof m !== 'object' || m === null || !isText(m.peer, 4096)) throw new MalformedInputError(`${at}.peer must be a peer id`, { field: `${at}.peer` })
    if (!Array.isArray(m.roles)) throw new MalformedInputError(`${at}.roles must be a list`, { field: `${at}.roles` })
    if (!posInt(m.capacity, 0, 1_000_000)) throw new MalformedInputError(`${at}.capacity must be an integer ≥ 0`, { field: `${at}.capacity` })
    if (typeof m.load !== 'number' || !Number.isFinite(m.load)) throw new MalformedInputError(`${at}.load must be a number`, { field: `${at}.load` })
    if (m.slots !== undefined && !posInt(m.slots, 1, 1_000_000)) throw new MalformedInputError(`${at}.slots must be an integer ≥ 1`, { field: `${at}.slots` })
  }

  /** Throws unless `id` is outstanding and given to `worker`. */
  private outstanding (id: string, worker: string): void {
    if (typeof id !== 'string') throw new MalformedInputError('assignment must be a string', { field: 'assignment' })
    if (typeof worker !== 'string') throw new MalformedInputError('worker must be a peer id', { field: 'worker' })
    const a = this.assignments.get(id)
    if (a === undefined) {
      const by = this.answered.get(id)
      if (by === undefined) throw new UnknownAssignmentError(`assignment ${id} is not outstanding (never issued, cancelled or timed out)`)
      if (by === worker) throw new DuplicateResultError(`assignment ${id} was already answered by ${worker}`)
      throw new NotAssignedError(`assignment ${id} was not given to ${worker}`)
    }
    if (a.worker !== worker) throw new NotAssignedError(`assignment ${id} was not given to ${worker}`)
  }

  // ------------------------------------------------------------ workers

  private worker (peer: string): WorkerState {
    let w = this.workers.get(peer)
    if (w === undefined) {
      w = {
        rep: { peer, checks: 0, consecutiveValid: 0, valid: 0, invalid: 0, blacklisted: false },
        present: false,
        capacity: 0,
        slots: 1,
        load: 0,
        active: 0,
        activeMs: 0,
        missesInRow: 0,
        restUntil: 0,
        salt: this.rng.float(),
        word: new Set()
      }
      this.workers.set(peer, w)
    }
    return w
  }

  private trusted (w: WorkerState): boolean {
    return !w.rep.blacklisted && w.rep.consecutiveValid >= this.trustAfter &&
      workerCredibility(w.rep.checks, this.f) >= this.trustCredibility
  }

  private members (list: WorkerInfo[], out: SchedulerEffect[]): void {
    const seen = new Set<string>()
    for (const m of list) {
      if (m.peer === this.self || !m.roles.includes('compute')) continue
      seen.add(m.peer)
      const w = this.worker(m.peer)
      w.present = true
      w.capacity = m.capacity
      w.slots = Math.max(1, m.slots ?? m.capacity)
      w.load = Math.min(1, Math.max(0, m.load))
    }
    for (const [peer, w] of this.workers) if (w.present && !seen.has(peer)) this.depart(peer, out)
  }

  private depart (peer: string, out: SchedulerEffect[]): void {
    const w = this.workers.get(peer)
    if (w === undefined || !w.present) return
    w.present = false
    for (const a of [...this.assignments.values()]) {
      if (a.worker === peer && !a.check) this.closeAssignment(a, out, false)
    }
  }

  // ------------------------------------------------------------ jobs

  private submit (job: Job, out: SchedulerEffect[]): void {
    const k = job.replicas ?? this.k
    const j: JobState = {
      id: job.id,
      k,
      q: job.quorum ?? Math.min(this.q, k),
      timeoutMs: job.timeoutMs ?? this.timeoutMs,
      tasks: [],
      settled: 0,
      accepted: 0,
      failed: 0,
      finished: false,
      cancelled: false,
      audited: new Set(),
      audits: 0,
      assignmentIds: []
    }
    for (const t of job.tasks) {
      const ts: TaskState = {
        job: j,
        task: { id: t.id, module: t.module, input: t.input, fuelLimit: t.fuelLimit },
        status: 'open',
        results: [],
        outstanding: new Set(),
        check: null,
        checkFailed: false,
        target: j.k,
        quorum: j.q,
        suspect: false,
        attempts: 0,
        used: new Set(),
        accepted: null,
        waitingSince: this.now
      }
      j.tasks.push(ts)
      this.wanting.add(ts)
    }
    this.jobs.set(j.id, j)
    this.armStuckCheck(Math.min(j.timeoutMs, STUCK_SCAN_MS))
    out.push({ type: 'progress', job: j.id, done: 0, total: j.tasks.length })
  }

  private cancelJob (id: string, out: SchedulerEffect[]): void {
    const j = this.jobs.get(id)!
    if (j.finished) {
      // forget it
      for (const t of j.tasks) {
        this.unword(t)
        this.wanting.delete(t)
      }
      for (const a of j.assignmentIds) {
        const live = this.assignments.get(a)
        if (live !== undefined) this.closeAssignment(live, out, true)
        this.answered.delete(a)
      }
      this.jobs.delete(id)
      return
    }
    j.cancelled = true
    for (const t of j.tasks) {
      if (t.check !== null) this.closeAssignment(t.check, out, true)
      for (const a of [...t.outstanding]) this.closeAssignment(a, out, true)
      this.wanting.delete(t)
      if (t.status === 'open') {
        t.status = 'failed'
        j.failed++
        j.settled++
        out.push({ type: 'task-failed', job: j.id, task: t.task.id, reason: 'cancelled' })
      }
    }
    out.push({ type: 'progress', job: j.id, done: j.settled, total: j.tasks.length })
    this.finish(j, out)
  }

  // ------------------------------------------------------------ assignments

  /** The longest one execution of `t` may run (its fuel at the slowest speed assumed). */
  private runMs (t: TaskState): number {
    return t.task.fuelLimit / this.minFuelPerMs
  }

  /**
   * When an assignment of `t` given to `w` now is given up: the job's timeout and the task's longest run,
   * after the work queued ahead of it when every slot of `w` is taken — at most Σ of their longest runs
   * over the slots (the queue drains through all of them).
   */
  private deadlineOf (t: TaskState, w: WorkerState): number {
    const queued = w.active >= w.slots ? w.activeMs / w.slots : 0
    return this.now + t.job.timeoutMs + this.runMs(t) + queued
  }

  private issue (t: TaskState, worker: string, check: boolean, out: SchedulerEffect[], audit = false): Assignment {
    const id = `a${(this.nextId++).toString(36)}`
    const a: Assignment = { id, task: t, worker, check, audit, deadline: check ? Infinity : this.deadlineOf(t, this.workers.get(worker)!) }
    this.assignments.set(id, a)
    t.job.assignmentIds.push(id)
    const { module, input, fuelLimit } = t.task
    if (check) {
      t.check = a
      this.counters.verifications++
      out.push({ type: 'verify-locally', assignment: id, job: t.job.id, task: t.task.id, module, input, fuelLimit })
    } else {
      t.outstanding.add(a)
      t.used.add(worker)
      t.attempts++
      const w = this.workers.get(worker)!
      w.active++
      w.activeMs += this.runMs(t)
      this.deadlines.push(a.deadline, id)
      this.counters.assigned++
      out.push({ type: 'assign', assignment: id, job: t.job.id, task: t.task.id, module, input, fuelLimit, worker, deadline: a.deadline })
    }
    return a
  }

  /** Ends an outstanding assignment without a result (cancelled, timed out, departed). `notify`: emit `cancel` to the worker. */
  private closeAssignment (a: Assignment, out: SchedulerEffect[], notify: boolean): void {
    this.assignments.delete(a.id)
    const t = a.task
    if (a.check) {
      if (t.check === a) t.check = null
      if (a.audit && t.job.audits > 0) t.job.audits--
      return
    }
    t.outstanding.delete(a)
    const w = this.workers.get(a.worker)
    if (w !== undefined) this.unqueue(w, t)
    if (notify) out.push({ type: 'cancel', assignment: a.id, worker: a.worker })
    this.refresh(t)
  }

  /** Whether the task wants another work assignment. */
  private refresh (t: TaskState): void {
    const wants = t.status === 'open' && t.check === null && !t.job.cancelled && t.results.length + t.outstanding.size < t.target
    if (wants) {
      if (!this.wanting.has(t)) {
        t.waitingSince = this.now
        this.wanting.add(t)
      }
    } else {
      this.wanting.delete(t)
    }
  }

  private dispatch (out: SchedulerEffect[]): void {
    if (this.wanting.size === 0) return
    const free: WorkerState[] = []
    for (const w of this.workers.values()) {
      if (w.present && !w.rep.blacklisted && w.active < w.capacity && w.restUntil <= this.now) free.push(w)
    }
    if (free.length === 0) return
    let unplaceable = 0
    for (const t of this.wanting) {
      while (t.results.length + t.outstanding.size < t.target) {
        if (t.attempts >= this.maxAttempts) {
          this.fail(t, 'too-many-attempts', out)
          break
        }
        let best = -1
        let bestScore = Infinity
        for (let i = 0; i < free.length; i++) {
          const w = free[i]
          if (t.used.has(w.rep.peer)) continue
          const score = w.active / w.capacity + w.load + w.salt * 1e-6
          if (score < bestScore) {
            bestScore = score
            best = i
          }
        }
        if (best < 0) break
        const w = free[best]
        if (t.results.length === 0 && t.outstanding.size === 0) {
          // adaptive replication: a trusted first worker carries the task alone
          const alone = this.trusted(w) && !t.suspect
          t.target = alone ? 1 : t.job.k
          t.quorum = alone ? 1 : t.job.q
        }
        this.issue(t, w.rep.peer, false, out)
        if (w.active >= w.capacity) {
          free.splice(best, 1)
          if (free.length === 0) break
        }
      }
      if (t.status === 'open' && t.results.length + t.outstanding.size >= t.target) this.wanting.delete(t)
      else if (++unplaceable > MAX_SCAN_UNPLACEABLE) break
      if (free.length === 0) break
    }
  }

  // ------------------------------------------------------------ results

  private onResult (id: string, commitment: string, output: string, fuel: number, out: SchedulerEffect[]): void {
    const a = this.assignments.get(id)!
    this.assignments.delete(id)
    this.answered.set(id, a.worker)
    const t = a.task
    if (a.check) {
      t.check = null
      if (a.audit && t.job.audits > 0) t.job.audits--
      this.onCheck(t, { assignment: id, worker: this.self, commitment, output, fuel }, out)
      return
    }
    this.counters.results++
    t.outstanding.delete(a)
    const w = this.workers.get(a.worker)!
    this.unqueue(w, t)
    w.missesInRow = 0
    w.restUntil = 0
    t.results.push({ assignment: id, worker: a.worker, commitment, output, fuel })
    this.evaluate(t, out)
  }

  private onFailed (id: string, out: SchedulerEffect[]): void {
    const a = this.assignments.get(id)!
    this.assignments.delete(id)
    this.answered.set(id, a.worker)
    const t = a.task
    if (a.check) {
      // the coordinator could not run it: decide without a check
      t.check = null
      t.checkFailed = true
      if (a.audit && t.job.audits > 0) t.job.audits--
      if (t.status === 'open') this.evaluate(t, out)
      else this.maybeFinish(t.job, out)
      return
    }
    t.outstanding.delete(a)
    const w = this.workers.get(a.worker)!
    this.unqueue(w, t)
    // a worker that fails everything it is given (its lease revoked, say, before it leaves the view)
    // would take one attempt of every waiting task: it rests like one that times out
    this.miss(w, t.job.timeoutMs)
    this.refresh(t)
  }

  /** An outstanding assignment of `t` on `w` ended (answered, failed, closed). */
  private unqueue (w: WorkerState, t: TaskState): void {
    w.active--
    w.activeMs = w.active === 0 ? 0 : Math.max(0, w.activeMs - this.runMs(t))
  }

  /** Counts an assignment that came to nothing; after BACKOFF_AFTER in a row the worker rests, doubling each time. */
  private miss (w: WorkerState, timeoutMs: number): void {
    w.missesInRow++
    if (w.missesInRow >= C.BACKOFF_AFTER) {
      w.restUntil = this.now + timeoutMs * 2 ** Math.min(6, w.missesInRow - C.BACKOFF_AFTER)
    }
  }

  /** Groups of results by commitment, largest first (ties: first seen first). */
  private groups (t: TaskState): ResultRec[][] {
    const by = new Map<string, ResultRec[]>()
    for (const r of t.results) {
      const g = by.get(r.commitment)
      if (g === undefined) by.set(r.commitment, [r])
      else g.push(r)
    }
    return [...by.values()].sort((a, b) => b.length - a.length)
  }

  /** Decides an open task if its results allow, else asks for more. */
  private evaluate (t: TaskState, out: SchedulerEffect[]): void {
    if (t.status !== 'open' || t.check !== null || t.job.cancelled) return
    const groups = this.groups(t)
    const checkable = !t.checkFailed
    if (groups.length > 1 && !t.suspect) {
      // first disagreement: spot-check it now (cheapest moment to catch a liar), else escalate
      t.suspect = true
      if (checkable && this.rng.chance(this.conflictCheckRate)) {
        this.startCheck(t, out)
        return
      }
    }
    const best = groups[0]
    let need = t.quorum
    if (groups.length > 1) need = Math.max(t.job.q, groups[1].length + 1)
    if (best !== undefined && best.length >= need) {
      // decided by the vote; maybe spot-check before accepting
      let p = 0
      if (checkable) {
        if (t.suspect) p = groups.length > 1 ? 0 : this.conflictCheckRate
        else if (t.quorum === 1) p = this.spotCheckRate
        else p = best.some(r => !this.trusted(this.workers.get(r.worker)!)) ? this.newSpotCheckRate : this.spotCheckRate
      }
      if (this.rng.chance(p)) {
        this.startCheck(t, out)
        return
      }
      this.accept(t, best, groups, out)
      return
    }
    // not decided: escalate
    if (best !== undefined) t.target = Math.min(this.maxReplicas, Math.max(t.target, t.results.length + (need - best.length)))
    if (t.results.length >= this.maxReplicas && t.outstanding.size === 0) {
      // escalation exhausted: the coordinator decides, or give up
      if (checkable) this.startCheck(t, out)
      else this.fail(t, 'no-agreement', out)
      return
    }
    this.refresh(t)
  }

  private startCheck (t: TaskState, out: SchedulerEffect[]): void {
    for (const a of [...t.outstanding]) this.closeAssignment(a, out, true)
    this.wanting.delete(t)
    this.issue(t, this.self, true, out)
  }

  /** The coordinator's own execution of `t`: the truth. */
  private onCheck (t: TaskState, truth: ResultRec, out: SchedulerEffect[]): void {
    const j = t.job
    if (j.cancelled) return
    const liars: ResultRec[] = []
    const honest: string[] = []
    for (const r of t.results) {
      if (r.commitment === truth.commitment) honest.push(r.worker)
      else liars.push(r)
    }
    for (const peer of honest) {
      const w = this.workers.get(peer)!
      w.rep.checks++
      if (t.status === 'open') this.credit(w)
    }
    const audit = t.status === 'accepted'
    if (audit) {
      if (t.accepted!.commitment !== truth.commitment) {
        this.reopen(t, liars[0]?.worker ?? '', out)
        this.settle(t, truth, honest, true, out)
      } else {
        this.unword(t)
        t.accepted!.verified = true
      }
    } else if (t.status === 'open') {
      for (const a of [...t.outstanding]) this.closeAssignment(a, out, true)
      this.settle(t, truth, honest, true, out)
    }
    for (const r of liars) {
      out.push({ type: 'rejected', job: j.id, task: t.task.id, assignment: r.assignment, worker: r.worker, commitment: r.commitment, reason: 'spot-check' })
      this.blacklist(r.worker, t, r.assignment, out)
    }
    t.results = t.results.filter(r => r.commitment === truth.commitment)
    this.maybeFinish(j, out)
  }

  private credit (w: WorkerState): void {
    w.rep.valid++
    w.rep.consecutiveValid++
  }

  /** Accepts the vote's winner without a check. */
  private accept (t: TaskState, best: ResultRec[], groups: ResultRec[][], out: SchedulerEffect[]): void {
    for (const a of [...t.outstanding]) this.closeAssignment(a, out, true)
    for (const g of groups) {
      for (const r of g) {
        const w = this.workers.get(r.worker)!
        if (g === best) {
          this.credit(w)
        } else {
          w.rep.invalid++
          w.rep.consecutiveValid = 0
          out.push({ type: 'rejected', job: t.job.id, task: t.task.id, assignment: r.assignment, worker: r.worker, commitment: r.commitment, reason: 'outvoted' })
        }
      }
    }
    const cred = groupCredibility(groups.map(g => g.map(r => this.credibility(r.worker))), 0)
    const workers = best.map(r => r.worker)
    for (const peer of workers) this.workers.get(peer)!.word.add(t)
    this.settle(t, best[0], workers, false, out, cred)
    this.maybeFinish(t.job, out)
  }

  private settle (t: TaskState, r: ResultRec, workers: string[], verified: boolean, out: SchedulerEffect[], credibility = 1): void {
    const j = t.job
    t.status = 'accepted'
    t.accepted = { commitment: r.commitment, output: r.output, fuel: r.fuel, workers, verified }
    this.wanting.delete(t)
    j.accepted++
    j.settled++
    this.counters.accepted++
    out.push({ type: 'accepted', job: j.id, task: t.task.id, commitment: r.commitment, output: r.output, fuel: r.fuel, workers, credibility, verified })
    out.push({ type: 'progress', job: j.id, done: j.settled, total: j.tasks.length })
  }

  private fail (t: TaskState, reason: 'no-agreement' | 'no-workers' | 'too-many-attempts', out: SchedulerEffect[]): void {
    const j = t.job
    for (const a of [...t.outstanding]) this.closeAssignment(a, out, true)
    t.status = 'failed'
    this.wanting.delete(t)
    j.failed++
    j.settled++
    out.push({ type: 'task-failed', job: j.id, task: t.task.id, reason })
    out.push({ type: 'progress', job: j.id, done: j.settled, total: j.tasks.length })
    this.maybeFinish(j, out)
  }

  /** Removes `t` from the word lists of the workers it rested on. */
  private unword (t: TaskState): void {
    if (t.accepted === null || t.accepted.verified) return
    for (const peer of t.accepted.workers) this.workers.get(peer)?.word.delete(t)
  }

  private reopen (t: TaskState, worker: string, out: SchedulerEffect[]): void {
    const j = t.job
    this.unword(t)
    t.status = 'open'
    t.accepted = null
    t.suspect = true
    t.checkFailed = false
    t.attempts = 0
    t.target = j.k
    t.quorum = j.q
    j.accepted--
    j.settled--
    j.finished = false
    this.counters.reopened++
    out.push({ type: 'reopened', job: j.id, task: t.task.id, worker })
  }

  private blacklist (peer: string, evidence: TaskState, assignment: string, out: SchedulerEffect[]): void {
    const w = this.workers.get(peer)!
    if (w.rep.blacklisted) return
    w.rep.blacklisted = true
    w.rep.consecutiveValid = 0
    this.counters.blacklisted++
    out.push({ type: 'blacklisted', worker: peer, job: evidence.job.id, task: evidence.task.id, assignment })
    for (const a of [...this.assignments.values()]) {
      if (a.worker === peer && !a.check) this.closeAssignment(a, out, true)
    }
    // backtracking: everything accepted on its word is open again
    const reopened = new Set<TaskState>(w.word)
    const touched = new Set<JobState>()
    for (const t of reopened) {
      this.reopen(t, peer, out)
      touched.add(t.job)
    }
    w.word.clear()
    // its results in open tasks no longer count
    for (const j of this.jobs.values()) {
      if (j.cancelled) continue
      for (const t of j.tasks) {
        if (t.status !== 'open' || t === evidence) continue
        const mine = t.results.filter(r => r.worker === peer)
        if (mine.length === 0 && !reopened.has(t)) continue
        if (mine.length > 0) {
          for (const r of mine) out.push({ type: 'rejected', job: j.id, task: t.task.id, assignment: r.assignment, worker: peer, commitment: r.commitment, reason: 'blacklisted' })
          t.results = t.results.filter(r => r.worker !== peer)
        }
        // a reopened task whose other signers remain may be a colluders' result: check it once decided
        if (reopened.has(t)) t.suspect = t.results.length > 0
        this.evaluate(t, out)
        this.refresh(t)
      }
    }
    for (const j of touched) out.push({ type: 'progress', job: j.id, done: j.settled, total: j.tasks.length })
  }

  // ------------------------------------------------------------ completion and audits

  private maybeFinish (j: JobState, out: SchedulerEffect[]): void {
    if (j.finished || j.cancelled || j.settled < j.tasks.length || j.audits > 0) return
    if (this.finalAudit) {
      // one unverified result of each worker whose word carried results in this job, chosen at random
      const carried = new Map<string, TaskState[]>()
      for (const t of j.tasks) {
        if (t.status !== 'accepted' || t.accepted!.verified || t.check !== null) continue
        for (const peer of t.accepted!.workers) {
          if (j.audited.has(peer)) continue
          const list = carried.get(peer)
          if (list === undefined) carried.set(peer, [t])
          else list.push(t)
        }
      }
      for (const [peer, list] of carried) {
        j.audited.add(peer)
        const t = list[this.rng.int(list.length)]
        if (t.check !== null || t.accepted === null || t.accepted.verified) continue
        j.audits++
        this.issue(t, this.self, true, out, true)
      }
      if (j.audits > 0) return
    }
    this.finish(j, out)
  }

  private finish (j: JobState, out: SchedulerEffect[]): void {
    j.finished = true
    out.push({ type: 'job-done', job: j.id, accepted: j.accepted, failed: j.failed })
  }

  // ------------------------------------------------------------ time

  private tick (out: SchedulerEffect[]): void {
    // a tick is the timer asked for, fired: none is pending now, whatever its time. A driver's timer may
    // fire before the time asked by the clock it passes in (Node measures timers from the event loop's
    // cached time, which lags Date.now()); kept pending, it would never be asked for again, and the
    // deadlines behind it would never fire
    this.pendingTimer = Infinity
    while (this.deadlines.size > 0 && this.deadlines.peekAt() <= this.now) {
      const id = this.deadlines.peekId()
      this.deadlines.pop()
      const a = this.assignments.get(id)
      if (a === undefined || a.check || a.deadline > this.now) continue
      this.counters.timeouts++
      this.miss(this.workers.get(a.worker)!, a.task.job.timeoutMs)
      this.closeAssignment(a, out, true)
    }
    if (this.now >= this.nextStuckCheck) this.failStuck(out)
  }

  /** Tasks no present worker can take (all used, blacklisted or gone) for a job timeout fail with 'no-workers'. */
  private failStuck (out: SchedulerEffect[]): void {
    this.nextStuckCheck = Infinity
    if (this.wanting.size === 0) return
    const candidates = [...this.workers.values()].filter(w => w.present && !w.rep.blacklisted && w.capacity > 0)
    for (const t of [...this.wanting]) {
      if (t.outstanding.size > 0 || candidates.some(w => !t.used.has(w.rep.peer))) continue
      // no distinct worker is left for it: with results in hand the coordinator decides now
      // (a small fabric would otherwise wait a whole job timeout for a newcomer); without, it
      // waits that long for one before giving up
      if (t.results.length > 0 && !t.checkFailed && t.check === null) {
        this.startCheck(t, out)
      } else if (this.now - t.waitingSince >= t.job.timeoutMs) {
        this.fail(t, 'no-workers', out)
      } else {
        this.armStuckCheck(t.waitingSince + t.job.timeoutMs - this.now)
      }
    }
    if (this.wanting.size > 0) this.armStuckCheck(Math.min(this.timeoutMs, STUCK_SCAN_MS))
  }

  private armStuckCheck (inMs: number): void {
    this.nextStuckCheck = Math.min(this.nextStuckCheck, this.now + inMs)
  }

  private requestTimer (out: SchedulerEffect[]): void {
    let at = Math.min(this.deadlines.peekAt(), this.nextStuckCheck)
    if (this.wanting.size > 0) {
      for (const w of this.workers.values()) {
        if (w.present && !w.rep.blacklisted && w.restUntil > this.now && w.active < w.capacity) at = Math.min(at, w.restUntil)
      }
    }
    if (at < this.pendingTimer && Number.isFinite(at)) {
      this.pendingTimer = at
      out.push({ type: 'timer', at })
    }
  }
}
