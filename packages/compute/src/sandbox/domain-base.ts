// WebSandboxDomain, the part Node and browsers share: an isolated execution
// domain on a worker (a worker thread in Node, a Web Worker in a browser) with
// a wall-clock watchdog, a CPU duty cycle held between fuel slices, pause and
// abort at slice boundaries, and no authority beyond what each request
// carries. How the worker is made is the platform's (domain.ts, domain-web.ts).
import {
  ABORT_SLOTS,
  CTRL_ABORT_IDS,
  CTRL_DUTY,
  CTRL_LENGTH,
  CTRL_RUN_ID,
  CTRL_SLEPT_MS,
  CTRL_SLICES,
  CTRL_STATE,
  type DomainExecution,
  type DomainMessage,
  type DomainResults,
  type RunBatch,
  type RunRequest,
  STATE_ABORT,
  STATE_PAUSE,
  STATE_RUN
} from './domain-core.ts'
import { DomainAbortedError, DomainClosedError, DomainCrashedError, WatchdogTimeoutError } from './errors.ts'

/** A started worker, as the domain sees it. */
export interface DomainWorker {
  postMessage (req: RunRequest | RunBatch): void
  terminate (): unknown
}

/** What a platform calls back with: the worker's messages, its crash, its exit. */
export interface DomainWorkerEvents {
  message (m: DomainMessage | DomainResults | { type: 'ready' }): void
  error (err: Error): void
  exit (): void
}

/** Makes the worker of a domain, sharing its control block; the worker answers { type: 'ready' } once it serves. */
export type DomainSpawner = (control: SharedArrayBuffer, init: SandboxInit, on: DomainWorkerEvents) => DomainWorker

/** Options of a sandbox domain (and of each domain of a pool). */
export interface SandboxInit {
  /** Cap on the module's linear memory (default: the VM's, 256 MiB). */
  memoryLimitBytes?: number
  /** V8 old-generation heap of the worker, MiB (default 96). */
  heapLimitMb?: number
  /** Share of one core the domain may use, (0, 1] (default 1): held between fuel slices. */
  cpuShare?: number
  /** Fuel per slice (default: the VM's). Bounds how long a pause or abort waits. */
  sliceFuel?: number
  /** Wall-clock limit of one execution, ms (default 120 s). */
  watchdogMs?: number
  /** Hand a run to a busy domain when its last run of the module used less fuel than this (default AHEAD_MAX_FUEL; 0: never). */
  aheadMaxFuel?: number
  /** Largest output an execution may write (default: the VM's). */
  outputLimitBytes?: number
}

/** One execution to run in a domain. */
export interface DomainTask {
  module: Uint8Array
  input: Uint8Array
  fuelLimit: number
  seed?: Uint8Array
  profile?: 'task' | 'process'
  /** process profile: the topics it may publish on */
  publishTopics?: string[]
  /** memory cap of this execution (default: the domain's). Part of the task: replicas must agree on it. */
  memoryLimitBytes?: number
  /** a stable name for the module (its CID): its bytes then cross to the domain once, not per run */
  moduleId?: string
}

/** Options of one run. */
export interface RunOptions {
  signal?: AbortSignal
  watchdogMs?: number
  /** process profile: output and logs as they are written */
  onStdout?: (chunk: Uint8Array) => void
  onStderr?: (text: string) => void
  onPublish?: (topic: string, data: Uint8Array) => void
}

/** An execution's result plus the wall time it took in the domain. */
export interface DomainResult extends DomainExecution { wallMs: number }

const DEFAULT_WATCHDOG_MS = 120_000
const EMPTY = new Uint8Array(0)
/** Module ids remembered as held; the domain's own cache is larger, so a remembered id is rarely evicted there. */
const HELD_IDS = 8
/**
 * A run is handed to a busy domain, to start as soon as the running one ends, only when the domain's
 * last run of the same module used less fuel than this (a few ms of wasm): short tasks then cost the
 * domain's thread one wake-up per batch instead of one per run. Fuel, not wall time: it is the same
 * on every machine and under any load.
 */
export const AHEAD_MAX_FUEL = 5_000_000
/**
 * Most runs handed to a domain behind its running one. Those handed in one turn cross to the
 * domain's thread in one message, and it answers the runs it had queued in one message: at eight,
 * a batch of short tasks costs each thread two messages instead of sixteen. Each run the domain
 * holds needs an abort slot of its own (ABORT_SLOTS).
 */
export const MAX_AHEAD = 7
if (MAX_AHEAD + 1 > ABORT_SLOTS) throw new Error('a domain holds more runs than it has abort slots')

/**
 * The bytes in a buffer of their own. postMessage copies a view's whole underlying buffer: an
 * input decoded from a network frame is a few bytes inside a 64 KiB chunk, and copying the chunk
 * was a tenth of a busy worker node's main thread.
 */
function own (b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice()
}

interface Pending {
  id: number
  resolve: (r: DomainResult) => void
  reject: (e: Error) => void
  started: number
  timer?: ReturnType<typeof setTimeout>
  opts: RunOptions
  onAbort?: () => void
  moduleId?: string
  /** what was asked, to post it again to a restarted worker when it never started */
  task: DomainTask
  held: boolean
  /** handed to the worker */
  posted?: boolean
  /** stopped (its signal, or abort() before it was handed over): it stops at its next slice, or before it starts */
  aborted?: boolean
}

/** A sandbox domain on a worker the spawner makes; runs one execution at a time. */
export class SandboxDomainBase {
  readonly init: SandboxInit
  private readonly spawner: DomainSpawner
  private worker?: DomainWorker
  private ready?: Promise<void>
  /** the worker answered ready and is still ours: runs are posted to it without waiting */
  private alive = false
  private readonly control = new Int32Array(new SharedArrayBuffer(CTRL_LENGTH * 4))
  private current?: Pending
  /** runs handed to the worker behind the current one (short tasks), in order: each starts as the one before ends */
  private ahead: Pending[] = []
  /** runs handed over this turn, not yet posted: they leave together at the end of the turn */
  private outgoing: Pending[] = []
  /** fuel of the last completed run, and its module id */
  private last?: { moduleId?: string, fuel: number }
  /** module ids whose bytes this domain's worker was sent (it keeps the last few) */
  private readonly held = new Set<string>()
  private nextId = 1
  private closed = false
  /** executions completed (any status) */
  runs = 0
  /** workers restarted after a crash or watchdog */
  restarts = 0
  /** runs handed to the worker while another was running */
  aheadRuns = 0
  private busyTotal = 0

  constructor (init: SandboxInit, spawner: DomainSpawner) {
    this.init = init
    this.spawner = spawner
    this.setCpuShare(init.cpuShare ?? 1)
  }

  get busy (): boolean { return this.current != null }
  /** Runs in the domain: the current one and those handed over behind it. */
  get queued (): number { return (this.current != null ? 1 : 0) + this.ahead.length }
  /** Whether a run of `task` may be handed over now, behind the running one (see AHEAD_MAX_FUEL, MAX_AHEAD). */
  canTakeAhead (task: DomainTask, opts: RunOptions = {}): boolean {
    return this.current?.posted === true && this.ahead.length < MAX_AHEAD && !this.closed && this.alive &&
      task.moduleId != null && this.last?.moduleId === task.moduleId && this.last.fuel < (this.init.aheadMaxFuel ?? AHEAD_MAX_FUEL) &&
      (task.profile ?? 'task') === 'task' && opts.onStdout == null && opts.onStderr == null && opts.onPublish == null &&
      Atomics.load(this.control, CTRL_STATE) === STATE_RUN
  }
  /** Fuel slices run and ms slept for the duty cycle, since the domain started. */
  get meters (): { slices: number, sleptMs: number } {
    return { slices: Atomics.load(this.control, CTRL_SLICES), sleptMs: Atomics.load(this.control, CTRL_SLEPT_MS) }
  }

  /** ms spent running executions (including duty-cycle sleeps: subtract meters.sleptMs for CPU time), up to now. */
  get busyMs (): number {
    return this.busyTotal + (this.current != null ? performance.now() - this.current.started : 0)
  }

  /** Change the CPU share held from the next slice on. */
  setCpuShare (share: number): void {
    if (!(share > 0 && share <= 1)) throw new RangeError('cpuShare must be in (0, 1]')
    Atomics.store(this.control, CTRL_DUTY, Math.max(1, Math.round(share * 1000)))
  }

  /** Hold the running execution at its next slice boundary until resume(). */
  pause (): void {
    Atomics.compareExchange(this.control, CTRL_STATE, STATE_RUN, STATE_PAUSE)
    Atomics.notify(this.control, CTRL_STATE)
  }

  resume (): void {
    Atomics.compareExchange(this.control, CTRL_STATE, STATE_PAUSE, STATE_RUN)
    Atomics.notify(this.control, CTRL_STATE)
  }

  /** Stop the running execution, and those handed over behind it, at the next slice boundary (DomainAbortedError). */
  abort (): void {
    // a run still waiting for its worker to start would otherwise lose this: posting resets the state
    if (this.current != null && this.current.posted !== true) this.current.aborted = true
    Atomics.store(this.control, CTRL_STATE, STATE_ABORT)
    Atomics.notify(this.control, CTRL_STATE)
  }

  /**
   * Start the worker now instead of at the first run: a worker thread and the VM's code take a few
   * hundred ms of CPU to start, which a long-lived node pays before its first job instead of in it.
   * A start that fails is retried, and reported, by the first run.
   */
  prestart (): void {
    if (this.closed || this.worker != null) return
    this.start().catch(() => {})
  }

  /** Run one execution. Resolves with the VM's result; rejects on watchdog, crash, abort or close. */
  async run (task: DomainTask, opts: RunOptions = {}): Promise<DomainResult> {
    const held = task.moduleId != null && this.held.has(task.moduleId)
    try {
      return await this.runOnce(task, opts, held)
    } catch (err) {
      // evicted in the worker (or the worker restarted): send the bytes this time
      if ((err as Error).name !== 'ModuleNotHeldError') throw err
      this.held.clear()
      return await this.runOnce(task, opts, false)
    }
  }

  private async runOnce (task: DomainTask, opts: RunOptions, held: boolean): Promise<DomainResult> {
    if (this.closed) throw new DomainClosedError()
    if (opts.signal?.aborted === true) throw new DomainAbortedError()
    if (this.current != null) {
      if (!this.canTakeAhead(task, opts)) throw new Error('a sandbox domain runs one execution at a time; use a SandboxPool')
      return await this.postAhead(task, opts, held)
    }
    const { promise, resolve, reject } = Promise.withResolvers<DomainResult>()
    // it may be settled (closed, crashed) while the worker is still starting, before it is awaited
    promise.catch(() => {})
    const pending: Pending = { id: this.nextId++, resolve, reject, started: performance.now(), opts, moduleId: task.moduleId, task, held }
    if (opts.signal != null) {
      pending.onAbort = () => this.abortRun(pending)
      opts.signal.addEventListener('abort', pending.onAbort, { once: true })
    }
    // reserve the domain before the first await, so a pool never double-books it
    this.current = pending
    await this.post(pending)
    return await promise
  }

  /** Start the worker if need be and hand it `p`, the current run: its watchdog starts now. */
  private async post (p: Pending): Promise<void> {
    // a live worker gets the run this turn (with the runs handed over behind it in the turn, so a pool can hand them at once)
    if (!this.alive) {
      try {
        await this.start()
      } catch (err) {
        this.fail(new DomainCrashedError(`the sandbox domain could not start: ${(err as Error).message}`, { cause: err }), p)
        return
      }
    }
    if (this.current !== p) return // closed while starting
    if (this.worker == null) { this.fail(new DomainCrashedError(), p); return }
    // the worker is idle or new: nothing it was told about earlier runs holds
    Atomics.store(this.control, CTRL_STATE, STATE_RUN)
    Atomics.store(this.control, CTRL_RUN_ID, 0)
    for (let i = CTRL_ABORT_IDS; i < CTRL_ABORT_IDS + ABORT_SLOTS; i++) Atomics.store(this.control, i, 0)
    // those stopped while the worker was starting (or before a restart) stop before they start
    for (const r of [p, ...this.ahead]) if (r.opts.signal?.aborted === true || r.aborted === true) this.stopId(r.id)
    this.startWatchdog(p)
    p.posted = true
    if (this.ahead.length === 0) {
      // it leaves at the end of this turn, with the runs handed over behind it in the turn: one message
      this.outgoing.push(p)
      if (this.outgoing.length === 1) queueMicrotask(() => this.postOutgoing())
      return
    }
    this.worker.postMessage(this.request(p))
    // runs that were behind it on a worker that failed follow it to this one
    if (this.ahead.length > 0) {
      this.outgoing = []
      const runs = this.ahead
      this.worker.postMessage(runs.length === 1 ? this.request(runs[0]) : { type: 'runs', runs: runs.map(r => this.request(r)) })
    }
  }

  /**
   * Hand `task` to the busy worker, to run as soon as the runs before it end. It is posted at the end
   * of this turn, with any others handed over in it: one message for them all.
   */
  private async postAhead (task: DomainTask, opts: RunOptions, held: boolean): Promise<DomainResult> {
    const { promise, resolve, reject } = Promise.withResolvers<DomainResult>()
    promise.catch(() => {})
    const p: Pending = { id: this.nextId++, resolve, reject, started: performance.now(), opts, moduleId: task.moduleId, task, held }
    if (opts.signal != null) {
      p.onAbort = () => this.abortRun(p)
      opts.signal.addEventListener('abort', p.onAbort, { once: true })
    }
    this.ahead.push(p)
    this.aheadRuns++
    p.posted = true
    this.outgoing.push(p)
    if (this.outgoing.length === 1) queueMicrotask(() => this.postOutgoing())
    return await promise
  }

  /** Post the runs handed over this turn (the current one and those behind it, still on this worker). */
  private postOutgoing (): void {
    const runs = this.outgoing.filter(p => p === this.current || this.ahead.includes(p))
    this.outgoing = []
    if (runs.length === 0 || this.worker == null) return
    this.worker.postMessage(runs.length === 1 ? this.request(runs[0]) : { type: 'runs', runs: runs.map(p => this.request(p)) })
  }

  private request (p: Pending): RunRequest {
    const task = p.task
    return {
      type: 'run',
      id: p.id,
      module: p.held ? EMPTY : own(task.module),
      moduleId: task.moduleId,
      input: own(task.input),
      fuelLimit: task.fuelLimit,
      seed: task.seed != null ? own(task.seed) : undefined,
      sliceFuel: this.init.sliceFuel,
      profile: task.profile,
      memoryLimitBytes: task.memoryLimitBytes ?? this.init.memoryLimitBytes,
      outputLimitBytes: this.init.outputLimitBytes,
      publishTopics: task.publishTopics,
      stream: p.opts.onStdout != null || p.opts.onStderr != null
    }
  }

  /** `p` starts now (as far as the parent knows): its watchdog runs from here. */
  private startWatchdog (p: Pending): void {
    clearTimeout(p.timer)
    p.started = performance.now()
    const watchdog = p.opts.watchdogMs ?? this.init.watchdogMs ?? DEFAULT_WATCHDOG_MS
    p.timer = setTimeout(() => {
      p.timer = undefined
      // the domain may be in a later run, the answers of those before it waiting (see DomainPort):
      // `p` ended, and the watchdog of the run it is in runs from now
      const running = this.runningRun()
      if (running != null && running !== p) {
        if (running.timer == null) this.startWatchdog(running)
        return
      }
      // the worker is let go first, so a run handed over behind this one goes to a fresh one
      const w = this.detach()
      this.fail(new WatchdogTimeoutError(`the execution ran past its ${watchdog} ms watchdog and was stopped; give it more time or less work`), p)
      void w?.terminate()
    }, watchdog)
  }

  private stopWatchdog (p: Pending): void {
    clearTimeout(p.timer)
    p.timer = undefined
  }

  /** The run the worker is in (CTRL_RUN_ID), when it is one of this domain's. */
  private runningRun (): Pending | undefined {
    const id = Atomics.load(this.control, CTRL_RUN_ID)
    return this.current?.id === id ? this.current : this.ahead.find(r => r.id === id)
  }

  /**
   * Stop one run (its signal fired): the current one at its next slice; one handed over behind it is
   * rejected now and stopped before it starts (if the worker still runs it, its answer is ignored).
   */
  private abortRun (p: Pending): void {
    if (p !== this.current && !this.ahead.includes(p)) return
    p.aborted = true
    if (p !== this.current) p.reject(new DomainAbortedError())
    this.stopId(p.id)
    Atomics.notify(this.control, CTRL_STATE)
  }

  /**
   * Tell the worker to stop run `id`, in a slot that holds no other run still in the domain: there
   * are more slots than runs a domain holds, so each stop stands until its run is gone.
   */
  private stopId (id: number): void {
    let free = -1
    for (let i = CTRL_ABORT_IDS; i < CTRL_ABORT_IDS + ABORT_SLOTS; i++) {
      const held = Atomics.load(this.control, i)
      if (held === id) return
      if (free < 0 && held !== this.current?.id && !this.ahead.some(r => r.id === held)) free = i
    }
    Atomics.store(this.control, free, id)
  }

  /** Stop the worker; a running execution rejects with DomainClosedError. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.abort()
    this.fail(new DomainClosedError(), undefined, true)
    const w = this.worker
    this.worker = undefined
    this.alive = false
    await w?.terminate()
  }

  private async start (): Promise<void> {
    if (this.ready != null) return await this.ready
    const ready = Promise.withResolvers<void>()
    // the events arrive asynchronously, after `worker` is bound
    const worker: DomainWorker = this.spawner(this.control.buffer as SharedArrayBuffer, this.init, {
      message: m => {
        if (m?.type === 'ready') { if (this.worker === worker) this.alive = true; ready.resolve(); return }
        if (this.worker === worker) this.onMessage(m as DomainMessage | DomainResults)
      },
      error: err => {
        ready.reject(err)
        // resource limits and crashes arrive here; the worker is gone
        if (this.worker !== worker) return
        this.alive = false
        this.worker = undefined
        this.ready = undefined
        this.restarts++
        this.held.clear()
        this.fail(new DomainCrashedError(`the sandbox domain died: ${err.message}; it was restarted, retry the work`, { cause: err }))
      },
      exit: () => {
        if (this.worker !== worker) return
        this.alive = false
        this.worker = undefined
        this.ready = undefined
        this.fail(new DomainCrashedError())
      }
    })
    this.worker = worker
    this.ready = ready.promise
    await this.ready
  }

  /** Forget the worker (the next run starts another); returns it, to terminate. */
  private detach (): DomainWorker | undefined {
    this.alive = false
    this.held.clear()
    const w = this.worker
    this.worker = undefined
    this.ready = undefined
    this.restarts++
    return w
  }

  private onMessage (m: DomainMessage | DomainResults): void {
    if (m?.type === 'results') {
      for (const one of m.messages) this.onMessage(one)
      return
    }
    const p = this.current
    if (p == null || m == null || m.id !== p.id) return
    switch (m.type) {
      case 'stdout': p.opts.onStdout?.(m.chunk); return
      case 'stderr': p.opts.onStderr?.(m.text); return
      case 'publish': p.opts.onPublish?.(m.topic, m.data); return
      case 'done': {
        const wallMs = performance.now() - p.started
        this.settle()
        this.runs++
        this.last = { moduleId: p.moduleId, fuel: m.execution.fuel }
        if (p.moduleId != null) {
          if (this.held.size >= HELD_IDS && !this.held.has(p.moduleId)) this.held.clear()
          this.held.add(p.moduleId)
        }
        p.resolve({ ...m.execution, wallMs })
        return
      }
      case 'error': {
        this.settle()
        const e = m.error.name === 'DomainAbortedError' ? new DomainAbortedError() : new Error(m.error.message)
        e.name = m.error.name
        p.reject(e)
      }
    }
  }

  /**
   * The current run ended: the first handed over behind it (already in the worker) becomes current,
   * its watchdog from now unless it runs already (the worker was seen in it).
   */
  private settle (): void {
    const p = this.current
    if (p == null) return
    this.stopWatchdog(p)
    this.release(p)
    this.busyTotal += performance.now() - p.started
    this.current = this.ahead.shift()
    if (this.current != null && this.current.timer == null) this.startWatchdog(this.current)
  }

  private release (p: Pending): void {
    if (p.onAbort != null) p.opts.signal?.removeEventListener('abort', p.onAbort)
  }

  /**
   * A run failed with `err` (watchdog, crash, close): `failed`, else the one the worker is in. Its
   * answers may have been waiting (DomainPort), so the runs before it ended but are lost with the
   * worker: they run again (a task's result is deterministic), and those behind it never started;
   * all go to the restarted worker, in order — or, when the domain closes (`all`), fail too.
   */
  private fail (err: Error, failed?: Pending, all = false): void {
    const p = this.current
    if (p == null) return
    const queue = [p, ...this.ahead]
    const culprit = all ? p : (failed ?? this.runningRun() ?? p)
    if (!queue.includes(culprit)) return // settled already (a start that failed after a crash was handled)
    this.current = undefined
    this.ahead = []
    for (const r of queue) this.stopWatchdog(r)
    this.busyTotal += performance.now() - p.started
    this.release(culprit)
    culprit.reject(err)
    const again = queue.filter(r => r !== culprit)
    if (again.length === 0) return
    if (all || this.closed) {
      for (const r of again) {
        this.release(r)
        r.reject(err)
      }
      return
    }
    // the worker is gone (or going): whatever it held is forgotten, so the bytes go again; the
    // first becomes current, the others go behind it once it is posted
    for (const r of again) r.held = false
    this.current = again[0]
    this.ahead = again.slice(1)
    void this.post(again[0])
  }
}

/** Options of a pool: each domain's options and how many domains. */
export interface SandboxPoolInit extends SandboxInit {
  /** Number of domains (default 1). */
  size?: number
}

/** A fixed set of domains with a FIFO queue: how a node runs many executions. */
export class SandboxPoolBase {
  readonly domains: SandboxDomainBase[]
  private readonly queue: Array<() => void> = []
  private closed = false

  constructor (init: SandboxPoolInit, spawner: DomainSpawner) {
    const size = init.size ?? 1
    if (!Number.isInteger(size) || size < 1 || size > 256) throw new RangeError('pool size must be an integer from 1 to 256')
    this.domains = Array.from({ length: size }, () => new SandboxDomainBase(init, spawner))
  }

  get size (): number { return this.domains.length }
  /** Executions running or waiting. */
  get load (): number { return this.domains.reduce((n, d) => n + d.queued, 0) + this.queue.length }

  /**
   * Run on the first free domain (waiting for one if all are busy). A run aborted while it waits leaves
   * the queue at once; a wakeup it was given and cannot use (aborted, closed) goes to the next waiter, so
   * stopping many queued runs never strands the ones behind them.
   */
  async run (task: DomainTask, opts: RunOptions = {}): Promise<DomainResult> {
    let woken = false
    try {
      for (;;) {
        if (this.closed) throw new DomainClosedError()
        opts.signal?.throwIfAborted()
        // a free domain, else the least queued busy one that takes a short task behind its runs
        const free = this.domains.find(d => !d.busy) ?? this.leastQueued(task, opts)
        if (free != null) {
          woken = false
          const running = free.run(task, opts)
          // a domain may take the next waiter's task behind its run now: let it look
          if (this.queue.length > 0 && this.domains.some(d => d.canTakeAhead(task, opts))) this.queue.shift()?.()
          try {
            return await running
          } finally {
            this.queue.shift()?.()
          }
        }
        woken = false
        woken = await this.wait(opts.signal)
      }
    } finally {
      if (woken) this.queue.shift()?.()
    }
  }

  private leastQueued (task: DomainTask, opts: RunOptions): SandboxDomainBase | undefined {
    let best: SandboxDomainBase | undefined
    for (const d of this.domains) if ((best == null || d.queued < best.queued) && d.canTakeAhead(task, opts)) best = d
    return best
  }

  /** Wait in the queue for a wakeup (true), or until `signal` aborts (rejects with its reason). */
  private async wait (signal?: AbortSignal): Promise<true> {
    const { promise, resolve, reject } = Promise.withResolvers<true>()
    const onAbort = (): void => {
      const i = this.queue.indexOf(wake)
      if (i >= 0) this.queue.splice(i, 1)
      reject(signal?.reason)
    }
    const wake = (): void => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    this.queue.push(wake)
    return await promise
  }

  setCpuShare (share: number): void { for (const d of this.domains) d.setCpuShare(share) }
  /** Stop every running execution at its next slice boundary. */
  abortAll (): void { for (const d of this.domains) if (d.busy) d.abort() }

  /** Start every domain's worker now rather than at its first run (see SandboxDomainBase.prestart). */
  prestart (): void { if (!this.closed) for (const d of this.domains) d.prestart() }

  async close (): Promise<void> {
    this.closed = true
    for (const wake of this.queue.splice(0)) wake()
    await Promise.all(this.domains.map(async d => await d.close()))
  }
}
