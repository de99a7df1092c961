// WebSandboxDomain, the part Node and browsers share: an isolated execution
// domain on a worker (a worker thread in Node, a Web Worker in a browser) with
// a wall-clock watchdog, a CPU duty cycle held between fuel slices, pause and
// abort at slice boundaries, and no authority beyond what each request
// carries. How the worker is made is the platform's (domain.ts, domain-web.ts).
import {
  CTRL_DUTY,
  CTRL_LENGTH,
  CTRL_SLEPT_MS,
  CTRL_SLICES,
  CTRL_STATE,
  type DomainExecution,
  type DomainMessage,
  type RunRequest,
  STATE_ABORT,
  STATE_PAUSE,
  STATE_RUN
} from './domain-core.ts'
import { DomainAbortedError, DomainClosedError, DomainCrashedError, WatchdogTimeoutError } from './errors.ts'

/** A started worker, as the domain sees it. */
export interface DomainWorker {
  postMessage (req: RunRequest): void
  terminate (): unknown
}

/** What a platform calls back with: the worker's messages, its crash, its exit. */
export interface DomainWorkerEvents {
  message (m: DomainMessage | { type: 'ready' }): void
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
}

/** A sandbox domain on a worker the spawner makes; runs one execution at a time. */
export class SandboxDomainBase {
  readonly init: SandboxInit
  private readonly spawner: DomainSpawner
  private worker?: DomainWorker
  private ready?: Promise<void>
  private readonly control = new Int32Array(new SharedArrayBuffer(CTRL_LENGTH * 4))
  private current?: Pending
  /** module ids whose bytes this domain's worker was sent (it keeps the last few) */
  private readonly held = new Set<string>()
  private nextId = 1
  private closed = false
  /** executions completed (any status) */
  runs = 0
  /** workers restarted after a crash or watchdog */
  restarts = 0
  private busyTotal = 0

  constructor (init: SandboxInit, spawner: DomainSpawner) {
    this.init = init
    this.spawner = spawner
    this.setCpuShare(init.cpuShare ?? 1)
  }

  get busy (): boolean { return this.current != null }
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

  /** Stop the running execution at its next slice boundary (DomainAbortedError). */
  abort (): void {
    Atomics.store(this.control, CTRL_STATE, STATE_ABORT)
    Atomics.notify(this.control, CTRL_STATE)
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
    if (this.current != null) throw new Error('a sandbox domain runs one execution at a time; use a SandboxPool')
    if (opts.signal?.aborted === true) throw new DomainAbortedError()
    const id = this.nextId++
    const { promise, resolve, reject } = Promise.withResolvers<DomainResult>()
    // it may be settled (closed, crashed) while the worker is still starting, before it is awaited
    promise.catch(() => {})
    const pending: Pending = { id, resolve, reject, started: performance.now(), opts, moduleId: task.moduleId }
    // reserve the domain before the first await, so a pool never double-books it
    this.current = pending
    try {
      await this.start()
    } catch (err) {
      this.settle()
      throw new DomainCrashedError(`the sandbox domain could not start: ${(err as Error).message}`, { cause: err })
    }
    if (this.current !== pending) return await promise // closed while starting
    pending.started = performance.now()
    Atomics.store(this.control, CTRL_STATE, STATE_RUN)
    const watchdog = opts.watchdogMs ?? this.init.watchdogMs ?? DEFAULT_WATCHDOG_MS
    pending.timer = setTimeout(() => {
      this.fail(new WatchdogTimeoutError(`the execution ran past its ${watchdog} ms watchdog and was stopped; give it more time or less work`))
      void this.restart()
    }, watchdog)
    if (opts.signal != null) {
      pending.onAbort = () => this.abort()
      opts.signal.addEventListener('abort', pending.onAbort, { once: true })
      // aborted while the worker was starting: the state was just reset to run
      if (opts.signal.aborted) this.abort()
    }
    const req: RunRequest = {
      type: 'run',
      id,
      module: held ? EMPTY : own(task.module),
      moduleId: task.moduleId,
      input: own(task.input),
      fuelLimit: task.fuelLimit,
      seed: task.seed != null ? own(task.seed) : undefined,
      sliceFuel: this.init.sliceFuel,
      profile: task.profile,
      memoryLimitBytes: task.memoryLimitBytes ?? this.init.memoryLimitBytes,
      outputLimitBytes: this.init.outputLimitBytes,
      publishTopics: task.publishTopics,
      stream: opts.onStdout != null || opts.onStderr != null
    }
    this.worker!.postMessage(req)
    return await promise
  }

  /** Stop the worker; a running execution rejects with DomainClosedError. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.abort()
    this.fail(new DomainClosedError())
    const w = this.worker
    this.worker = undefined
    await w?.terminate()
  }

  private async start (): Promise<void> {
    if (this.ready != null) return await this.ready
    const ready = Promise.withResolvers<void>()
    // the events arrive asynchronously, after `worker` is bound
    const worker: DomainWorker = this.spawner(this.control.buffer as SharedArrayBuffer, this.init, {
      message: m => {
        if (m?.type === 'ready') { ready.resolve(); return }
        if (this.worker === worker) this.onMessage(m as DomainMessage)
      },
      error: err => {
        ready.reject(err)
        // resource limits and crashes arrive here; the worker is gone
        if (this.worker !== worker) return
        this.fail(new DomainCrashedError(`the sandbox domain died: ${err.message}; it was restarted, retry the work`, { cause: err }))
        this.worker = undefined
        this.ready = undefined
        this.restarts++
        this.held.clear()
      },
      exit: () => {
        if (this.worker !== worker) return
        this.fail(new DomainCrashedError())
        this.worker = undefined
        this.ready = undefined
      }
    })
    this.worker = worker
    this.ready = ready.promise
    await this.ready
  }

  private async restart (): Promise<void> {
    this.held.clear()
    const w = this.worker
    this.worker = undefined
    this.ready = undefined
    this.restarts++
    await w?.terminate()
  }

  private onMessage (m: DomainMessage): void {
    const p = this.current
    if (p == null || m == null || m.id !== p.id) return
    switch (m.type) {
      case 'stdout': p.opts.onStdout?.(m.chunk); return
      case 'stderr': p.opts.onStderr?.(m.text); return
      case 'publish': p.opts.onPublish?.(m.topic, m.data); return
      case 'done':
        this.settle()
        this.runs++
        if (p.moduleId != null) {
          if (this.held.size >= HELD_IDS && !this.held.has(p.moduleId)) this.held.clear()
          this.held.add(p.moduleId)
        }
        p.resolve({ ...m.execution, wallMs: performance.now() - p.started })
        return
      case 'error': {
        this.settle()
        const e = m.error.name === 'DomainAbortedError' ? new DomainAbortedError() : new Error(m.error.message)
        e.name = m.error.name
        p.reject(e)
      }
    }
  }

  private settle (): void {
    const p = this.current
    if (p == null) return
    clearTimeout(p.timer)
    if (p.onAbort != null) p.opts.signal?.removeEventListener('abort', p.onAbort)
    this.busyTotal += performance.now() - p.started
    this.current = undefined
  }

  private fail (err: Error): void {
    const p = this.current
    if (p == null) return
    this.settle()
    p.reject(err)
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
  get load (): number { return this.domains.filter(d => d.busy).length + this.queue.length }

  /** Run on the first free domain (waiting for one if all are busy). */
  async run (task: DomainTask, opts: RunOptions = {}): Promise<DomainResult> {
    for (;;) {
      if (this.closed) throw new DomainClosedError()
      opts.signal?.throwIfAborted()
      const free = this.domains.find(d => !d.busy)
      if (free != null) {
        try {
          return await free.run(task, opts)
        } finally {
          this.queue.shift()?.()
        }
      }
      await new Promise<void>(resolve => this.queue.push(resolve))
    }
  }

  setCpuShare (share: number): void { for (const d of this.domains) d.setCpuShare(share) }
  /** Stop every running execution at its next slice boundary. */
  abortAll (): void { for (const d of this.domains) if (d.busy) d.abort() }

  async close (): Promise<void> {
    this.closed = true
    for (const wake of this.queue.splice(0)) wake()
    await Promise.all(this.domains.map(async d => await d.close()))
  }
}
