// The coordinator side of compute: drives the Scheduler core with libp2p
// streams and real timers. It takes jobs (a module and many inputs), keeps
// their bytes by CID, feeds the scheduler the membership view of compute
// workers, sends assignments over one long-lived stream per worker, checks
// every result (output bytes against their CID, the receipt's signature and
// fields against the frame), executes spot-checks in its own sandbox pool,
// countersigns the receipts of the results it accepted, and reports progress.
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import {
  type ReputationSnapshot,
  type SandboxPool,
  Scheduler,
  type SchedulerEffect,
  type SchedulerInput,
  type SchedulerStats,
  type WorkerInfo,
  MAX_ACCEPTANCE_RECEIPTS,
  VerifiedRoots,
  acceptReceipts,
  encodeAcceptance,
  receiptCidOfBytes,
  loadModule,
  verifyReceiptBytes
} from '@webfabric/compute'
import { type Identity, MalformedError } from '@webfabric/protocol'
import { rawCid } from './compute-worker.ts'
import {
  COMPUTE_PROTOCOL,
  DEFAULT_TASK_MEMORY_BYTES,
  MAX_FUEL,
  MAX_MEMORY_BYTES,
  MAX_INPUT_BYTES,
  MAX_MODULE_BYTES,
  MAX_RUNS_PER_FRAME,
  MAX_STORED_BYTES,
  TASK_OUTPUT_LIMIT_BYTES,
  MAX_WORKER_FRAME,
  type AcceptFrame,
  type CancelFrame,
  type ResultFrame,
  type ResultsFrame,
  type RunFrame,
  type RunsFrame,
  type WorkerFrame,
  decodeWorkerFrame,
  encodeFrame
} from './compute-wire.ts'
import { type TaskStorage, TaskObjectMismatchError } from './compute-storage.ts'
import { FRAME_TIMEOUT_MS } from './constants.ts'
import type { Host } from './host.ts'
import type { MemberView } from './membership-service.ts'
import { didOfPeer } from './peer-identity.ts'
import { PipelineDepths } from './compute-pipeline.ts'
import { sharedTimeout } from './shared-timeout.ts'

/**
 * What `submit` takes: one module, one input per task. An input is its bytes, or the read capability
 * (`wf-read:…`) of an object in the fabric's storage; one over MAX_INPUT_BYTES travels to workers through
 * the storage (up to MAX_STORED_BYTES), so the coordinator needs storage/put for large bytes given inline.
 */
export interface JobSpec {
  module: Uint8Array
  inputs: Array<Uint8Array | string>
  /** fuel limit of each execution (default 10^10) */
  fuelLimit?: number
  /** memory cap of each execution in bytes (default 256 MiB); workers whose lease lends less refuse the task */
  memoryLimitBytes?: number
  /** replicas k and quorum q (defaults: the manifest's redundancy policy) */
  replicas?: number
  quorum?: number
  /** base deadline of one execution, ms */
  timeoutMs?: number
  /** human name for logs and receipts' job ids */
  name?: string
}

/** One task's outcome in a job report. */
export interface TaskReport {
  task: string
  index: number
  state: 'accepted' | 'failed'
  /** the VM's status of the accepted execution (ok, trap, abort, out-of-fuel, output-limit) */
  status?: string
  message?: string
  output?: Uint8Array
  outputCid?: string
  /**
   * an output over MAX_OUTPUT_BYTES: the read capability of a worker's stored copy, read and checked to
   * hash to outputCid; `output` is then left out (read it from the fabric's storage)
   */
  outputCap?: string
  commitment?: string
  fuel?: number
  workers?: string[]
  verified?: boolean
  credibility?: number
  reason?: string
}

/** Progress of a job, as reported to `onProgress`. */
export interface JobProgress { job: string, done: number, total: number, accepted: number, failed: number, executions: number }

/** A job as the dashboard lists it. */
export interface JobView {
  job: string
  name?: string
  module: string
  state: 'running' | 'done' | 'failed'
  done: number
  total: number
  accepted: number
  failed: number
  executions: number
  startedAt: number
  finishedAt?: number
}

/** Finished jobs the coordinator remembers for listing. */
const JOB_HISTORY = 50

/** What `submit` resolves to. */
export interface JobReport {
  job: string
  module: string
  tasks: TaskReport[]
  accepted: number
  failed: number
  /** results received from workers, executions on the coordinator (spot-checks), and both per task */
  executions: number
  verifications: number
  overhead: number
  wallMs: number
  /** results of this job's executions that were not accepted: outvoted, failed a spot-check, or from a worker caught cheating */
  rejectedResults: number
  /** workers blacklisted during this job for a result proven wrong (peer ids) */
  caught: string[]
}

/** Options of {@link ComputeCoordinator}. */
export interface ComputeCoordinatorInit {
  identity: Identity
  /** the origin's `compute/assign` capability for this node (encoded) */
  credential: Uint8Array
  /** the origin this fabric serves: a receipt naming another is refused (unset: not checked) */
  origin?: string
  /** where spot-checks run */
  pool: () => SandboxPool
  /** the fabric's storage, for large inputs and outputs (undefined: inputs and outputs travel inline only) */
  storage?: () => TaskStorage | undefined
  replicas: number
  quorum: number
  seed?: number
  reputation?: ReputationSnapshot
  /** called after reputations change (to persist them) */
  onReputation?: (r: ReputationSnapshot) => void
  log?: (msg: string) => void
}

/** Thrown by submit for a job it refuses. */
export class JobRefusedError extends Error {
  static name = 'JobRefusedError'
  constructor (message = 'the job was refused', options?: ErrorOptions) { super(message, options); this.name = 'JobRefusedError' }
}

interface Assignment { id: string, job: string, task: string, worker: string, frame?: ResultFrame, receipt?: string }
type AssignEffect = Extract<SchedulerEffect, { type: 'assign' }>
type OutFrame = RunFrame | RunsFrame | CancelFrame | AcceptFrame
interface JobState {
  id: string
  spec: JobSpec
  moduleCid: string
  inputs: string[]
  results: Map<string, TaskReport>
  onProgress?: (p: JobProgress) => void
  done: PromiseWithResolvers<JobReport>
  started: number
  executions: number
  verifications: number
  accepted: number
  /** assignments whose result was rejected (one may be rejected for more than one reason) */
  rejected: Set<string>
  caught: Set<string>
  /** reads of accepted outputs that workers stored in the fabric: the report waits for them */
  fetches: Array<Promise<void>>
}
interface WorkerLink {
  peer: string
  /** the worker's did (its receipts' signer) */
  did: string
  stream?: Stream
  lp?: LengthPrefixedStream<Stream>
  opening?: Promise<void>
  sentCredential: boolean
  writes: Promise<void>
  /** frames waiting for the write in flight to finish; they go out together */
  outbox: Array<{ frame: OutFrame, done: PromiseWithResolvers<void> }>
  flushQueued: boolean
  /** the deadline of a write (FRAME_TIMEOUT_MS × 6), one timer a second for all of them */
  writeDeadline: () => AbortSignal
  pending: Set<string>
  /** receipts (by CID) waiting to be countersigned in one batch */
  verdicts: { accepted: string[], rejected: string[], timer?: ReturnType<typeof setTimeout> }
}

const DEFAULT_FUEL = 1e10
const EMPTY = new Uint8Array(0)
/** How long verdicts wait to be countersigned together (ms). */
const ACCEPTANCE_BATCH_MS = 200
const MAX_TASKS = 100_000
/** Longest a worker's assignments are held back to leave with others (ms). */
const HOLD_MS = 20

/** Coordinates jobs over the fabric's compute workers. */
export class ComputeCoordinator {
  private readonly host: Host
  private readonly init: ComputeCoordinatorInit
  private readonly scheduler: Scheduler
  private readonly blobs = new Map<string, Uint8Array>()
  private readonly outputs = new Map<string, Uint8Array>()
  /** read capabilities of the large inputs, by CID (workers read them from the fabric's storage) */
  private readonly inputCaps = new Map<string, string>()
  /** read capabilities of large outputs workers stored, by output CID (unverified until read) */
  private readonly storedOutputs = new Map<string, string[]>()
  /** the stored output being read and checked (fetchOutput never rejects) */
  private fetching: Promise<void> = Promise.resolve()
  private readonly jobs = new Map<string, JobState>()
  /** running and recently finished jobs, oldest first */
  private readonly views = new Map<string, JobView>()
  private readonly assignments = new Map<string, Assignment>()
  /** the same assignments by "job task", for countersigning without a scan */
  private readonly byTask = new Map<string, Assignment[]>()
  private readonly links = new Map<string, WorkerLink>()
  /** batch signatures of workers' receipts already checked: a batch costs one verification */
  private readonly roots = new VerifiedRoots()
  /** assignments made since the last send, by worker: they leave together, one frame per job */
  private readonly unsent = new Map<string, AssignEffect[]>()
  private sendQueued = false
  private holdTimer?: ReturnType<typeof setTimeout>
  /** each worker's window as last given to the scheduler: assignments it takes, and its sandbox domains */
  private readonly windows = new Map<string, { capacity: number, slots: number }>()
  /** assignments in flight per domain of each worker, from its tasks' wall time */
  private readonly depths = new PipelineDepths()
  private timer?: ReturnType<typeof setTimeout>
  private timerAt = Infinity
  private members: MemberView[] = []
  private nextJob = 1
  private running = true

  constructor (host: Host, init: ComputeCoordinatorInit) {
    this.host = host
    this.init = init
    this.scheduler = new Scheduler({
      self: host.peerId.toString(),
      seed: init.seed ?? (Math.random() * 2 ** 31) | 0,
      replicas: init.replicas,
      quorum: init.quorum,
      reputation: init.reputation
    })
  }

  /** Scheduler counters. */
  stats (): SchedulerStats { return this.scheduler.stats() }

  /** Running and recently finished jobs, newest first. */
  jobList (): JobView[] { return [...this.views.values()].reverse().map(v => ({ ...v })) }
  reputation (): ReputationSnapshot { return this.scheduler.reputation() }

  /** The current membership view (the driver calls this on every change). */
  setMembers (view: MemberView[]): void {
    this.members = view
    this.windows.clear()
    const workers: WorkerInfo[] = view
      .filter(m => !m.self && m.roles.includes('compute'))
      .map(m => {
        const slots = Math.max(0, Math.min(32, Math.floor(m.capacity.slots ?? m.capacity.cpus ?? 1)))
        // at least two assignments per sandbox domain (one runs while the next is on the wire, so the
        // round trip does not idle the domain), more for short tasks; the scheduler's deadlines count
        // the ones waiting behind the domains
        const capacity = this.depths.depth(m.peerId) * slots
        this.windows.set(m.peerId, { capacity, slots })
        return { peer: m.peerId, roles: m.roles, capacity, ...(slots > 0 ? { slots } : {}), load: Math.max(0, Math.min(1, m.load.cpu ?? 0)) }
      })
    this.depths.keep(new Set(this.windows.keys()))
    this.step({ type: 'members', now: Date.now(), members: workers })
  }

  /** Run a job to completion; resolves with every task's outcome. */
  async submit (spec: JobSpec, onProgress?: (p: JobProgress) => void): Promise<JobReport> {
    if (!this.running) throw new JobRefusedError('the coordinator is stopped')
    if (!(spec.module instanceof Uint8Array) || spec.module.byteLength === 0 || spec.module.byteLength > MAX_MODULE_BYTES) {
      throw new JobRefusedError(`the module must be 1..${MAX_MODULE_BYTES} bytes of wasm`)
    }
    if (!Array.isArray(spec.inputs) || spec.inputs.length === 0 || spec.inputs.length > MAX_TASKS) throw new JobRefusedError(`a job has 1..${MAX_TASKS} inputs`)
    const storage = this.init.storage?.()
    spec.inputs.forEach((input, i) => {
      if (typeof input === 'string') {
        if (storage == null) throw new JobRefusedError(`input ${i} is a storage capability, and this coordinator takes no part in storage (it needs storage/get from the origin)`)
        return
      }
      if (!(input instanceof Uint8Array)) throw new JobRefusedError(`input ${i} is neither bytes nor a storage read capability`)
      if (input.byteLength > MAX_STORED_BYTES) throw new JobRefusedError(`input ${i} is ${input.byteLength} bytes; the most a task takes is ${MAX_STORED_BYTES} (split it into more tasks)`)
      if (input.byteLength > MAX_INPUT_BYTES && storage?.canWrite !== true) {
        throw new JobRefusedError(`input ${i} is ${input.byteLength} bytes; more than ${MAX_INPUT_BYTES} travels through the fabric's storage, which this coordinator may not write to (it needs storage/put from the origin), so split it into more tasks`)
      }
    })
    const fuelLimit = spec.fuelLimit ?? DEFAULT_FUEL
    if (!Number.isSafeInteger(fuelLimit) || fuelLimit < 1 || fuelLimit > MAX_FUEL) throw new JobRefusedError(`fuelLimit must be an integer from 1 to ${MAX_FUEL}`)
    const mem = spec.memoryLimitBytes ?? DEFAULT_TASK_MEMORY_BYTES
    if (!Number.isSafeInteger(mem) || mem < 65536 || mem > MAX_MEMORY_BYTES) throw new JobRefusedError(`memoryLimitBytes must be an integer from 65536 to ${MAX_MEMORY_BYTES}`)

    // a module no worker could load is the submitter's mistake: say so now, by the VM's own error
    try {
      await loadModule(spec.module, { profile: 'task', memoryLimitBytes: mem })
    } catch (err) {
      throw new JobRefusedError(`the module cannot run as a task: ${(err as Error).name}: ${(err as Error).message}`, { cause: err })
    }
    const moduleCid = await rawCid(spec.module)
    this.blobs.set(moduleCid, spec.module)
    const inputs: string[] = []
    for (const [i, given] of spec.inputs.entries()) {
      let input: Uint8Array
      let cap: string | undefined
      try {
        // a capability is read once here: the coordinator needs the input's CID, and its bytes for spot-checks
        if (typeof given === 'string') { cap = given; input = await storage!.read(given, MAX_STORED_BYTES) } else input = given
        if (input.byteLength > MAX_INPUT_BYTES) cap ??= await storage!.write(input)
      } catch (err) {
        throw new JobRefusedError(`input ${i}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err })
      }
      const cid = await rawCid(input)
      // a large input stays in the fabric (a spot-check reads it again), a small one here
      if (input.byteLength > MAX_INPUT_BYTES) this.inputCaps.set(cid, cap!)
      else this.blobs.set(cid, input)
      inputs.push(cid)
    }
    const id = `${(typeof spec.name === 'string' ? spec.name : 'job').replace(/[^a-zA-Z0-9_.-]/g, '').slice(0, 32) || 'job'}-${Date.now().toString(36)}-${this.nextJob++}`
    const job: JobState = { id, spec, moduleCid, inputs, results: new Map(), onProgress, done: Promise.withResolvers(), started: performance.now(), executions: 0, verifications: 0, accepted: 0, rejected: new Set(), caught: new Set(), fetches: [] }
    this.jobs.set(id, job)
    this.views.set(id, { job: id, ...(typeof spec.name === 'string' ? { name: spec.name.slice(0, 64) } : {}), module: moduleCid, state: 'running', done: 0, total: inputs.length, accepted: 0, failed: 0, executions: 0, startedAt: Date.now() })
    // forget the oldest finished jobs beyond the history (running ones always stay listed)
    let excess = this.views.size - JOB_HISTORY - this.jobs.size
    for (const [key, v] of this.views) {
      if (excess <= 0) break
      if (v.state !== 'running') { this.views.delete(key); excess-- }
    }
    this.setMembers(this.members)
    try {
      this.step({
        type: 'submit',
        now: Date.now(),
        job: {
          id,
          tasks: inputs.map((input, i) => ({ id: `t${i}`, module: moduleCid, input, fuelLimit })),
          ...(spec.replicas != null ? { replicas: spec.replicas } : {}),
          ...(spec.quorum != null ? { quorum: spec.quorum } : {}),
          ...(spec.timeoutMs != null ? { timeoutMs: spec.timeoutMs } : {})
        }
      }, true)
    } catch (err) {
      this.jobs.delete(id)
      this.views.delete(id)
      throw new JobRefusedError(`the scheduler refused the job: ${(err as Error).message}`, { cause: err })
    }
    return await job.done.promise
  }

  stop (): void {
    this.running = false
    this.unsent.clear()
    clearTimeout(this.holdTimer)
    clearTimeout(this.timer)
    for (const link of this.links.values()) clearTimeout(link.verdicts.timer)
    for (const link of this.links.values()) link.stream?.abort(new Error('coordinator stopped'))
    this.links.clear()
    for (const job of this.jobs.values()) {
      job.done.reject(new JobRefusedError('the coordinator stopped before the job finished'))
      const view = this.views.get(job.id)
      if (view != null) Object.assign(view, { state: 'failed', finishedAt: Date.now() })
    }
    this.jobs.clear()
  }

  // -- the scheduler loop ---------------------------------------------------

  private step (input: SchedulerInput, rethrow = false): void {
    let effects: SchedulerEffect[]
    try {
      effects = this.scheduler.step(input)
    } catch (err) {
      if (rethrow) throw err
      this.init.log?.(`scheduler refused ${input.type}: ${(err as Error).message}`)
      return
    }
    for (const e of effects) this.apply(e)
  }

  private apply (e: SchedulerEffect): void {
    switch (e.type) {
      case 'assign': {
        const a: Assignment = { id: e.assignment, job: e.job, task: e.task, worker: e.worker }
        this.assignments.set(e.assignment, a)
        const key = `${e.job} ${e.task}`
        const list = this.byTask.get(key)
        if (list == null) this.byTask.set(key, [a])
        else list.push(a)
        // sent once this turn of the event loop is over: the assignments made on the results of one
        // frame (a worker answers a batch together) go back to the worker as one batch
        const unsent = this.unsent.get(e.worker)
        if (unsent == null) this.unsent.set(e.worker, [e])
        else unsent.push(e)
        this.queueSend()
        break
      }
      case 'verify-locally':
        void this.verifyLocally(e.assignment, e.job, e.task, e.module, e.input, e.fuelLimit)
        break
      case 'cancel': {
        this.assignments.delete(e.assignment)
        const link = this.links.get(e.worker)
        if (link?.lp != null && link.pending.delete(e.assignment)) void this.write(link, { k: 'cancel', a: e.assignment }).catch(() => {})
        break
      }
      case 'accepted': {
        const job = this.jobs.get(e.job)
        if (job == null) break
        const outcome = this.outcomes.get(`${e.job} ${e.task} ${e.commitment}`)
        if (job.results.get(e.task)?.state !== 'accepted') job.accepted++
        const output = this.outputs.get(e.output)
        // a stored output is read even when a spot-check made it here: the report names a stored copy
        // known to be good, which a client reads instead of taking the bytes in one message
        if (this.storedOutputs.has(e.output)) {
          // one at a time: each holds a whole output while it is hashed
          const fetched = this.fetching.then(async () => { await this.fetchOutput(job, e.task, e.output) })
          this.fetching = fetched
          job.fetches.push(fetched)
        }
        job.results.set(e.task, {
          task: e.task,
          index: Number(e.task.slice(1)),
          state: 'accepted',
          status: outcome?.status,
          message: outcome?.message,
          output,
          outputCid: e.output,
          commitment: e.commitment,
          fuel: e.fuel,
          workers: e.workers,
          verified: e.verified,
          credibility: e.credibility
        })
        void this.countersign(e.job, e.task, e.commitment)
        break
      }
      case 'rejected': {
        const job = this.jobs.get(e.job)
        job?.rejected.add(e.assignment)
        const a = this.assignments.get(e.assignment)
        if (a?.receipt != null) void this.sendAcceptance(a, false)
        break
      }
      case 'reopened': {
        const job = this.jobs.get(e.job)
        if (job?.results.get(e.task)?.state === 'accepted') job.accepted--
        job?.results.delete(e.task)
        break
      }
      case 'blacklisted':
        this.jobs.get(e.job)?.caught.add(e.worker)
        this.init.log?.(`worker ${e.worker} returned a wrong result for ${e.job}/${e.task}: blacklisted for this origin`)
        this.init.onReputation?.(this.scheduler.reputation())
        break
      case 'task-failed': {
        const job = this.jobs.get(e.job)
        if (job?.results.get(e.task)?.state === 'accepted') job.accepted--
        job?.results.set(e.task, { task: e.task, index: Number(e.task.slice(1)), state: 'failed', reason: e.reason })
        break
      }
      case 'progress': {
        const job = this.jobs.get(e.job)
        if (job == null) break
        const p = { job: e.job, done: e.done, total: e.total, accepted: job.accepted, failed: e.done - job.accepted, executions: job.executions }
        const view = this.views.get(e.job)
        if (view != null) Object.assign(view, p)
        job.onProgress?.(p)
        break
      }
      case 'job-done': {
        // the report waits for the accepted outputs still being read from the fabric's storage
        const fetches = this.jobs.get(e.job)?.fetches ?? []
        if (fetches.length === 0) this.finish(e.job)
        else void Promise.all(fetches).then(() => this.finish(e.job))
        break
      }
      case 'timer':
        this.arm(e.at)
        break
    }
  }

  private arm (at: number): void {
    if (at >= this.timerAt && this.timer != null) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.step({ type: 'tick', now: Date.now() })
    }, Math.max(0, at - Date.now()))
  }

  private finish (jobId: string): void {
    const job = this.jobs.get(jobId)
    if (job == null) return
    const tasks = job.inputs.map((_, i) => job.results.get(`t${i}`) ?? { task: `t${i}`, index: i, state: 'failed' as const, reason: 'unknown' })
    const accepted = tasks.filter(t => t.state === 'accepted').length
    const view = this.views.get(jobId)
    if (view != null) Object.assign(view, { state: accepted === tasks.length ? 'done' : 'failed', done: tasks.length, accepted, failed: tasks.length - accepted, executions: job.executions, finishedAt: Date.now() })
    this.init.onReputation?.(this.scheduler.reputation())
    job.done.resolve({
      job: jobId,
      module: job.moduleCid,
      tasks,
      accepted,
      failed: tasks.length - accepted,
      executions: job.executions,
      verifications: job.verifications,
      overhead: (job.executions + job.verifications) / tasks.length,
      wallMs: performance.now() - job.started,
      rejectedResults: job.rejected.size,
      caught: [...job.caught]
    })
    // forget the job's bytes and bookkeeping; reputations stay
    this.jobs.delete(jobId)
    for (const [id, a] of this.assignments) if (a.job === jobId) this.assignments.delete(id)
    for (let i = 0; i < job.inputs.length; i++) this.byTask.delete(`${jobId} t${i}`)
    for (const t of tasks) if (t.outputCid != null) { this.outputs.delete(t.outputCid); this.storedOutputs.delete(t.outputCid) }
    const stillUsed = new Set([...this.jobs.values()].flatMap(j => [j.moduleCid, ...j.inputs]))
    for (const cid of [job.moduleCid, ...job.inputs]) if (!stillUsed.has(cid)) { this.blobs.delete(cid); this.inputCaps.delete(cid) }
    for (const key of this.outcomes.keys()) if (key.startsWith(`${jobId} `)) this.outcomes.delete(key)
    this.step({ type: 'cancel-job', now: Date.now(), job: jobId })
  }

  /**
   * Read an accepted output a worker stored in the fabric: from each worker that returned it in turn,
   * until one's object hashes to the agreed CID. None does: the task keeps the bytes a spot-check made
   * here, or else fails with the reason (never throws).
   */
  private async fetchOutput (job: JobState, task: string, cid: string): Promise<void> {
    const errors: string[] = []
    for (const cap of this.storedOutputs.get(cid) ?? []) {
      try {
        const bytes = await this.init.storage!()!.read(cap, TASK_OUTPUT_LIMIT_BYTES)
        if (await rawCid(bytes) !== cid) throw new TaskObjectMismatchError(`the stored output does not hash to the agreed ${cid}`)
        // the report names the copy that checked out instead of carrying it (a spot-check's bytes go too)
        const r = job.results.get(task)
        if (r?.outputCid === cid) { r.output = undefined; r.outputCap = cap }
        return
      } catch (err) {
        errors.push(`${(err as Error).name}: ${(err as Error).message}`)
      }
    }
    const r = job.results.get(task)
    if (r?.outputCid !== cid) return
    if (r.output != null) { this.init.log?.(`no stored copy of ${job.id}/${task}'s output could be read (${errors.join('; ')}); the report carries the bytes`); return }
    if (r.state === 'accepted') job.accepted--
    job.results.set(task, { task, index: r.index, state: 'failed', reason: `its agreed output was stored in the fabric and could not be read: ${errors.join('; ') || 'no worker stored it'}` })
  }

  /** A large input read back from the fabric's storage, checked against its CID. */
  private async readInput (cap: string, cid: string): Promise<Uint8Array> {
    const bytes = await this.init.storage!()!.read(cap, MAX_STORED_BYTES)
    if (await rawCid(bytes) !== cid) throw new TaskObjectMismatchError(`the stored input does not hash to ${cid}`)
    return bytes
  }

  // -- spot-checks on our own pool -------------------------------------------

  /** the VM status (and message) of each (job, task, commitment) seen in a valid result or a local run */
  private readonly outcomes = new Map<string, { status: string, message?: string }>()

  private async verifyLocally (assignment: string, jobId: string, task: string, module: string, input: string, fuelLimit: number): Promise<void> {
    const self = this.host.peerId.toString()
    const job = this.jobs.get(jobId)
    const mb = this.blobs.get(module)
    const cap = this.inputCaps.get(input)
    if (job == null || mb == null || (cap == null && !this.blobs.has(input))) { this.step({ type: 'failed', now: Date.now(), assignment, worker: self, reason: 'bytes gone' }); return }
    job.verifications++
    try {
      const ib = cap == null ? this.blobs.get(input)! : await this.readInput(cap, input)
      const r = await this.init.pool().run({ module: mb, moduleId: module, input: ib, fuelLimit, memoryLimitBytes: job.spec.memoryLimitBytes ?? DEFAULT_TASK_MEMORY_BYTES })
      this.outputs.set(r.outputCid, r.output)
      this.outcomes.set(`${jobId} ${task} ${r.commitment}`, { status: r.status, message: r.message })
      this.step({ type: 'result', now: Date.now(), assignment, worker: self, commitment: r.commitment, output: r.outputCid, fuel: r.fuel })
    } catch (err) {
      this.step({ type: 'failed', now: Date.now(), assignment, worker: self, reason: (err as Error).message })
    }
  }

  // -- talking to workers ----------------------------------------------------

  private queueSend (): void {
    if (this.sendQueued) return
    this.sendQueued = true
    setImmediate(() => this.sendUnsent())
  }

  /**
   * Send the assignments made since the last send, one frame per job and worker — but hold a worker's
   * while they are fewer than half its window and it has at least one per domain still to answer:
   * they then leave together with the next ones, so the worker's answers (one per frame) come in
   * batches of half its window (HOLD_MS at most).
   */
  private sendUnsent (force = false): void {
    this.sendQueued = false
    if (!this.running) { this.unsent.clear(); return }
    for (const [worker, all] of [...this.unsent]) {
      const list = all.filter(e => this.assignments.has(e.assignment)) // not cancelled before it left
      const window = this.windows.get(worker)
      const inFlight = this.links.get(worker)?.pending.size ?? 0
      if (!force && window != null && list.length > 0 && list.length * 2 < window.capacity && inFlight >= window.slots) {
        this.unsent.set(worker, list)
        this.holdTimer ??= setTimeout(() => { this.holdTimer = undefined; this.sendUnsent(true) }, HOLD_MS)
        continue
      }
      this.unsent.delete(worker)
      // a runs frame's assignments share job, module and fuel limit
      const groups = new Map<string, AssignEffect[]>()
      for (const e of list) {
        const key = `${e.job} ${e.module} ${e.fuelLimit}`
        const g = groups.get(key)
        if (g == null) groups.set(key, [e])
        else g.push(e)
      }
      for (const g of groups.values()) {
        for (let i = 0; i < g.length; i += MAX_RUNS_PER_FRAME) void this.sendRuns(worker, g.slice(i, i + MAX_RUNS_PER_FRAME))
      }
    }
    if (this.unsent.size === 0) { clearTimeout(this.holdTimer); this.holdTimer = undefined }
  }

  /** Send assignments of one job to a worker: one run frame, or a runs frame for several. */
  private async sendRuns (worker: string, list: AssignEffect[]): Promise<void> {
    const { job: jobId, module, fuelLimit } = list[0]
    if (list.length === 1) { await this.send(worker, list[0].assignment, jobId, list[0].task, module, list[0].input, fuelLimit); return }
    const runs: RunsFrame['r'] = []
    for (const e of list) {
      const ib = this.blobs.get(e.input)
      const cap = this.inputCaps.get(e.input)
      if ((ib == null && cap == null) || !this.blobs.has(module)) this.fail(e.assignment, worker, 'the job\'s bytes are gone')
      else runs.push(cap == null ? { a: e.assignment, t: e.task, i: ib! } : { a: e.assignment, t: e.task, i: EMPTY, ir: cap, ic: e.input })
    }
    if (runs.length === 0) return
    try {
      const link = await this.link(worker)
      for (const r of runs) link.pending.add(r.a)
      const mem = this.jobs.get(jobId)?.spec.memoryLimitBytes ?? DEFAULT_TASK_MEMORY_BYTES
      await this.write(link, { k: 'runs', j: jobId, m: module, f: fuelLimit, mem, r: runs })
    } catch (err) {
      for (const r of runs) this.fail(r.a, worker, `could not reach the worker: ${(err as Error).message}`)
    }
  }

  private async send (worker: string, assignment: string, jobId: string, task: string, module: string, input: string, fuelLimit: number, withModule = false): Promise<void> {
    const mb = this.blobs.get(module)
    const ib = this.blobs.get(input)
    const cap = this.inputCaps.get(input)
    if (mb == null || (ib == null && cap == null)) { this.fail(assignment, worker, 'the job\'s bytes are gone'); return }
    try {
      const link = await this.link(worker)
      link.pending.add(assignment)
      const mem = this.jobs.get(jobId)?.spec.memoryLimitBytes ?? DEFAULT_TASK_MEMORY_BYTES
      const frame: RunFrame = cap == null ? { k: 'run', a: assignment, j: jobId, t: task, m: module, i: ib!, f: fuelLimit, mem } : { k: 'run', a: assignment, j: jobId, t: task, m: module, i: EMPTY, ir: cap, ic: input, f: fuelLimit, mem }
      if (withModule) frame.mb = mb
      await this.write(link, frame)
    } catch (err) {
      this.fail(assignment, worker, `could not reach the worker: ${(err as Error).message}`)
    }
  }

  private fail (assignment: string, worker: string, reason: string): void {
    if (!this.assignments.has(assignment)) return
    this.step({ type: 'failed', now: Date.now(), assignment, worker, reason })
  }

  private async link (peer: string): Promise<WorkerLink> {
    let link = this.links.get(peer)
    if (link == null) {
      link = { peer, did: didOfPeer(peer), sentCredential: false, writes: Promise.resolve(), outbox: [], flushQueued: false, writeDeadline: sharedTimeout(FRAME_TIMEOUT_MS * 6), pending: new Set(), verdicts: { accepted: [], rejected: [] } }
      this.links.set(peer, link)
    }
    if (link.lp == null) {
      link.opening ??= this.open(link).finally(() => { link.opening = undefined })
      await link.opening
    }
    return link
  }

  private async open (link: WorkerLink): Promise<void> {
    const stream = await this.host.dialProtocol(peerIdFromString(link.peer), COMPUTE_PROTOCOL, { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS) })
    link.stream = stream
    link.lp = lpStream(stream, { maxDataLength: MAX_WORKER_FRAME })
    link.sentCredential = false
    void this.readLoop(link, link.lp, stream)
  }

  /** Queue a frame; frames queued while a write is in flight leave together in one write. */
  private async write (link: WorkerLink, frame: OutFrame): Promise<void> {
    const done = Promise.withResolvers<void>()
    link.outbox.push({ frame, done })
    if (!link.flushQueued) {
      link.flushQueued = true
      link.writes = link.writes.then(async () => { await this.flush(link) })
    }
    await done.promise
  }

  private async flush (link: WorkerLink): Promise<void> {
    link.flushQueued = false
    const batch = link.outbox.splice(0)
    try {
      if (link.lp == null) throw new Error('stream closed')
      if (!link.sentCredential) batch[0].frame.c = this.init.credential
      await link.lp.writeV(batch.map(b => encodeFrame(b.frame)), { signal: link.writeDeadline() })
      link.sentCredential = true
      for (const b of batch) b.done.resolve()
    } catch (err) {
      for (const b of batch) b.done.reject(err)
    }
  }

  private async readLoop (link: WorkerLink, lp: LengthPrefixedStream<Stream>, stream: Stream): Promise<void> {
    try {
      for (;;) {
        const data = await lp.read()
        const frame = decodeWorkerFrame(data.subarray())
        if (frame.k === 'results') for (const r of frame.r) void this.onFrame(link, { k: 'result', ...r })
        else void this.onFrame(link, frame)
      }
    } catch (err) {
      if (link.stream === stream) {
        link.stream = undefined
        link.lp = undefined
        stream.abort(err as Error)
        // everything in flight on this stream is lost: the scheduler reassigns it
        for (const a of link.pending) this.fail(a, link.peer, `stream to the worker closed: ${(err as Error).message}`)
        link.pending.clear()
      }
    }
  }

  private async onFrame (link: WorkerLink, f: Exclude<WorkerFrame, ResultsFrame>): Promise<void> {
    const a = this.assignments.get(f.a)
    if (a == null || a.worker !== link.peer) return // late, cancelled, or not theirs
    if (f.k === 'need-module') {
      const job = this.jobs.get(a.job)
      if (job == null) return
      link.pending.delete(f.a)
      void this.send(link.peer, a.id, a.job, a.task, job.moduleCid, job.inputs[Number(a.task.slice(1))], job.spec.fuelLimit ?? DEFAULT_FUEL, true)
      return
    }
    link.pending.delete(f.a)
    if (this.unsent.has(link.peer)) this.queueSend()
    if (f.k === 'error') {
      this.fail(a.id, link.peer, `${f.name}: ${f.message}`)
      return
    }
    // an execution happened (whatever it claims): it counts toward the job's cost
    const job = this.jobs.get(a.job)
    if (job != null) job.executions++
    // a result: its output must hash to the CID it claims and its receipt must be the worker's,
    // about this very result; anything else is a lie and is voted as one
    let commitment = f.cm
    try {
      const { body } = await verifyReceiptBytes(f.rc, this.roots)
      if (body.worker !== link.did || body.assignment !== a.id || body.commitment !== f.cm || body.output !== f.oc ||
        body.fuel !== f.fuel || body.status !== f.st || body.coordinator !== this.init.identity.did) {
        throw new MalformedError('the receipt does not describe this result', { field: 'rc' })
      }
      // and it describes the task it was given: the countersigned receipt must not misstate what ran
      if (body.job !== a.job || body.task !== a.task || (this.init.origin != null && body.origin !== this.init.origin) ||
        (job != null && (body.module !== job.moduleCid || body.input !== job.inputs[Number(a.task.slice(1))]))) {
        throw new MalformedError('the receipt names another job, task, module, input or origin than the one assigned', { field: 'rc' })
      }
      // a stored output is checked against its CID when it is read, if it is accepted (fetchOutput)
      if (f.or == null && await rawCid(f.o) !== f.oc) throw new MalformedError('the output bytes do not hash to the output CID the result claims', { field: 'o' })
      // verifyReceiptBytes (as decodeReceipt) refuses non-canonical bytes: the receipt's CID is that of the bytes received
      a.receipt = await receiptCidOfBytes(f.rc)
      if (f.or == null) this.outputs.set(f.oc, f.o)
      else {
        const caps = this.storedOutputs.get(f.oc)
        if (caps == null) this.storedOutputs.set(f.oc, [f.or])
        else if (caps.length < 16) caps.push(f.or)
      }
      this.outcomes.set(`${a.job} ${a.task} ${f.cm}`, { status: f.st, message: f.msg })
    } catch (err) {
      this.init.log?.(`result for ${a.job}/${a.task} from ${link.peer} is invalid: ${(err as Error).message}`)
      commitment = `invalid:${a.id}`
    }
    a.frame = f
    this.step({ type: 'result', now: Date.now(), assignment: a.id, worker: link.peer, commitment, output: f.oc, fuel: f.fuel })
    // the worker's pipeline deepens (or shallows) with its tasks' wall time
    if (this.depths.observe(link.peer, f.ms)) this.setMembers(this.members)
  }

  private async countersign (jobId: string, task: string, commitment: string): Promise<void> {
    // collect first: the job may finish (and forget its assignments) while we sign
    const answered = (this.byTask.get(`${jobId} ${task}`) ?? []).filter(a => a.receipt != null)
    for (const a of answered) await this.sendAcceptance(a, a.frame?.cm === commitment)
  }

  /** Queue a receipt's verdict; a worker's verdicts are countersigned together (one signature per batch). */
  private async sendAcceptance (a: Assignment, accepted: boolean): Promise<void> {
    const receipt = a.receipt
    if (receipt == null) return
    a.receipt = undefined // countersign once
    const link = this.links.get(a.worker)
    if (link == null) return
    const v = link.verdicts
    ;(accepted ? v.accepted : v.rejected).push(receipt)
    if (v.accepted.length + v.rejected.length >= MAX_ACCEPTANCE_RECEIPTS) this.flushVerdicts(link)
    else v.timer ??= setTimeout(() => this.flushVerdicts(link), ACCEPTANCE_BATCH_MS)
  }

  private flushVerdicts (link: WorkerLink): void {
    const v = link.verdicts
    clearTimeout(v.timer)
    link.verdicts = { accepted: [], rejected: [] }
    if (v.accepted.length + v.rejected.length === 0 || !this.running) return
    void (async () => {
      try {
        const acceptance = await acceptReceipts(this.init.identity, v, Date.now())
        if (link.lp == null) await this.link(link.peer)
        await this.write(link, { k: 'accept', ac: encodeAcceptance(acceptance) })
      } catch (err) {
        this.init.log?.(`could not countersign ${v.accepted.length + v.rejected.length} receipt(s) for ${link.peer}: ${(err as Error).message}`)
      }
    })()
  }
}
