// The inside of a sandbox domain, shared by the Node worker thread and the
// browser's Web Worker: it loads modules into the deterministic VM, runs one
// execution at a time, and holds the CPU duty cycle between fuel slices by
// blocking on the control block (Atomics.wait), which is also how the parent
// pauses or aborts a run without killing the worker. Browser-safe: no node:
// imports; the transport (parentPort / self) is the caller's.
import { type Execution, type LoadedModule, type ProcessHost, execute, loadModule } from '../vm/index.ts'
import { DomainAbortedError, ModuleNotHeldError } from './errors.ts'

/** Indices into the control block (an Int32Array over a SharedArrayBuffer). */
export const CTRL_STATE = 0
/** CPU duty cycle in per mille (1..1000) the domain holds between slices. */
export const CTRL_DUTY = 1
/** Fuel slices completed since the domain started (written by the domain). */
export const CTRL_SLICES = 2
/** Milliseconds the domain slept to hold its duty cycle (written by the domain). */
export const CTRL_SLEPT_MS = 3
/**
 * First of ABORT_SLOTS slots, each the id of a run to stop (at its next slice, or before it starts):
 * how the parent stops runs that may be queued behind another without touching the others. A slot
 * of its own for each run a domain holds, so stopping one never undoes the stop of another.
 * STATE_ABORT stops whatever runs.
 */
export const CTRL_ABORT_IDS = 4
/** Abort slots: at least the most runs a domain holds (the running one and MAX_AHEAD behind it). */
export const ABORT_SLOTS = 8
/**
 * Id of the run the domain is in (written by the domain as it takes the run up): the runs before it
 * ended, even while their answers wait (DomainPort), so a watchdog or a crash is this run's.
 */
export const CTRL_RUN_ID = CTRL_ABORT_IDS + ABORT_SLOTS
/** Length of the control block in Int32 slots. */
export const CTRL_LENGTH = CTRL_RUN_ID + 1

/** Values of CTRL_STATE. */
export const STATE_RUN = 0
export const STATE_PAUSE = 1
export const STATE_ABORT = 2

/** One execution the parent asks for. Plain data: it crosses postMessage. */
export interface RunRequest {
  type: 'run'
  id: number
  /** the module's bytes; empty when `moduleId` names one this domain already holds */
  module: Uint8Array
  /** the caller's stable name for the module (e.g. its CID), so its bytes cross once */
  moduleId?: string
  input: Uint8Array
  fuelLimit: number
  seed?: Uint8Array
  sliceFuel?: number
  profile?: 'task' | 'process'
  memoryLimitBytes?: number
  outputLimitBytes?: number
  /** process profile: topics the process may publish on (its capabilities) */
  publishTopics?: string[]
  /** process profile: stream output and logs to the parent as they come */
  stream?: boolean
}

/** The result of an execution in plain form (CIDs as strings). */
export interface DomainExecution {
  status: Execution['status']
  message?: string
  output: Uint8Array
  fuel: number
  logs: string[]
  moduleCid: string
  inputCid: string
  outputCid: string
  commitment: string
}

/** Several runs at once, in the order they are to run (runs handed to a busy domain in one turn). */
export interface RunBatch { type: 'runs', runs: RunRequest[] }

/** Several answers at once, in order: those of runs that were queued together. */
export interface DomainResults { type: 'results', messages: DomainMessage[] }

/** Messages a domain sends to its parent. */
export type DomainMessage =
  | { type: 'done', id: number, execution: DomainExecution }
  | { type: 'error', id: number, error: { name: string, message: string } }
  | { type: 'stdout', id: number, chunk: Uint8Array }
  | { type: 'stderr', id: number, text: string }
  | { type: 'publish', id: number, topic: string, data: Uint8Array }

/** Largest message a process may publish through its capability. */
export const MAX_PROCESS_PUBLISH_BYTES = 64 * 1024
const MODULE_CACHE = 16
/** Most oversleep (ms) a domain may make up by running longer before its next rest. */
const MAX_REST_CREDIT_MS = 10

/** Runs executions inside a domain; `send` posts a message to the parent. */
export class DomainCore {
  private readonly control: Int32Array
  private readonly send: (msg: DomainMessage) => void
  private readonly now: () => number
  private readonly modules = new Map<string, LoadedModule>()

  constructor (control: Int32Array, send: (msg: DomainMessage) => void, now: () => number) {
    this.control = control
    this.send = send
    this.now = now
  }

  /**
   * Run one request to completion; never throws (errors become messages). `atSlice` is called at
   * the end of each of its fuel slices, before any rest.
   */
  async handle (req: RunRequest, atSlice?: () => void): Promise<void> {
    Atomics.store(this.control, CTRL_RUN_ID, req.id)
    try {
      // a run queued behind another may have been stopped before it starts
      this.checkState(req.id)
      const mod = await this.load(req)
      let resumed = this.now()
      // rest owed to the duty cycle (ms): slices shorter than a millisecond owe less than the
      // smallest wait, so the debt carries over until it is worth a wait
      let owed = 0
      // sleep not yet added to the whole-ms meter
      let sleptFraction = 0
      const onSlice = (): void => {
        atSlice?.()
        Atomics.add(this.control, CTRL_SLICES, 1)
        const duty = Math.min(1000, Math.max(1, Atomics.load(this.control, CTRL_DUTY)))
        if (duty < 1000) {
          // hold the duty cycle: rest in proportion to the time just run
          owed += (this.now() - resumed) * (1000 - duty) / duty
          if (owed >= 1) {
            const before = this.now()
            Atomics.wait(this.control, CTRL_STATE, STATE_RUN, owed)
            const slept = this.now() - before
            // an early wake-up (pause, abort) leaves the rest owed; oversleeping is credited, a little
            owed = Math.max(-MAX_REST_CREDIT_MS, owed - slept)
            sleptFraction += slept
            const whole = Math.floor(sleptFraction)
            sleptFraction -= whole
            Atomics.add(this.control, CTRL_SLEPT_MS, whole)
          }
        } else {
          owed = 0
        }
        this.checkState(req.id)
        resumed = this.now()
      }
      const execution = await execute(mod, {
        input: req.input,
        fuelLimit: req.fuelLimit,
        seed: req.seed,
        sliceFuel: req.sliceFuel,
        onSlice,
        outputLimitBytes: req.outputLimitBytes,
        onOutput: req.stream === true ? (chunk: Uint8Array) => this.send({ type: 'stdout', id: req.id, chunk: chunk.slice() }) : undefined,
        onLog: req.stream === true ? (text: string) => this.send({ type: 'stderr', id: req.id, text }) : undefined,
        processHost: req.profile === 'process' ? this.processHost(req) : undefined
      })
      this.send({ type: 'done', id: req.id, execution: plain(execution) })
    } catch (err) {
      const e = err as Error
      this.send({ type: 'error', id: req.id, error: { name: e?.name ?? 'Error', message: e?.message ?? String(err) } })
    }
  }

  private checkState (id: number): void {
    for (;;) {
      const state = Atomics.load(this.control, CTRL_STATE)
      if (state === STATE_ABORT) throw new DomainAbortedError()
      for (let i = CTRL_ABORT_IDS; i < CTRL_ABORT_IDS + ABORT_SLOTS; i++) if (Atomics.load(this.control, i) === id) throw new DomainAbortedError()
      if (state !== STATE_PAUSE) return
      Atomics.wait(this.control, CTRL_STATE, STATE_PAUSE)
    }
  }

  private async load (req: RunRequest): Promise<LoadedModule> {
    const named = req.moduleId != null ? `${req.profile ?? 'task'} ${req.memoryLimitBytes ?? ''} id:${req.moduleId}` : undefined
    if (named != null && req.module.byteLength === 0) {
      const held = this.modules.get(named)
      if (held == null) throw new ModuleNotHeldError()
      return held
    }
    const key = named ?? `${req.profile ?? 'task'} ${req.memoryLimitBytes ?? ''} ${hashKey(req.module)}`
    const hit = this.modules.get(key)
    if (hit != null && bytesEqual(hit.bytes, req.module)) return hit
    const mod = await loadModule(req.module, { profile: req.profile ?? 'task', memoryLimitBytes: req.memoryLimitBytes })
    if (this.modules.size >= MODULE_CACHE) this.modules.delete(this.modules.keys().next().value as string)
    this.modules.set(key, mod)
    return mod
  }

  private processHost (req: RunRequest): ProcessHost {
    const topics = new Set(req.publishTopics ?? [])
    return {
      now_ms: () => Date.now(),
      sleep_ms: (ms: number) => {
        // interruptible: a pause or abort from the parent wakes the sleeper
        if (ms > 0) Atomics.wait(this.control, CTRL_STATE, STATE_RUN, Math.min(ms, 60_000))
        this.checkState(req.id)
      },
      publish: (topic: string, data: Uint8Array) => {
        if (!topics.has(topic)) return -1
        if (data.byteLength > MAX_PROCESS_PUBLISH_BYTES) return -2
        this.send({ type: 'publish', id: req.id, topic, data: data.slice() })
        return 0
      }
    }
  }
}

function plain (e: Execution): DomainExecution {
  return {
    status: e.status,
    message: e.message,
    output: e.output,
    fuel: Number(e.fuel),
    logs: e.logs,
    moduleCid: String(e.moduleCid),
    inputCid: String(e.inputCid),
    outputCid: String(e.outputCid),
    commitment: String(e.commitment)
  }
}

// a cheap cache key (FNV-1a over length and up to 4 KiB of samples); equality is checked on a hit
function hashKey (b: Uint8Array): string {
  let h = 0x811c9dc5 ^ b.length
  const step = Math.max(1, Math.floor(b.length / 4096))
  for (let i = 0; i < b.length; i += step) h = Math.imul(h ^ b[i], 0x01000193)
  return `${b.length}:${(h >>> 0).toString(16)}`
}

function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A finished run's answer is sent (with those waiting) once at most this many runs are queued behind it. */
const ANSWER_WITH_QUEUED = 2

/**
 * The domain's end of its messages, shared by the Node and the browser entry: it takes run and runs
 * messages and runs them one at a time, in order, and it answers the runs it had queued together —
 * an answer waits while more than ANSWER_WITH_QUEUED runs are queued behind it, then those waiting
 * leave in one message (the parent hands a domain at most a few short runs at once). Answers never
 * wait past the end of a fuel slice: the parent starts a run's watchdog when the answer before it
 * arrives, so a run that takes more than a slice frees those before it at its first. Output is
 * handed over without a copy when it owns its whole buffer. Streamed output and publications go at
 * once, after the answers before them.
 */
export class DomainPort {
  private readonly post: (msg: DomainMessage | DomainResults, transfer: ArrayBuffer[]) => void
  private chain: Promise<void> = Promise.resolve()
  /** runs received and not yet finished (the one running included) */
  private queued = 0
  private answers: DomainMessage[] = []
  private transfer: ArrayBuffer[] = []

  constructor (post: (msg: DomainMessage | DomainResults, transfer: ArrayBuffer[]) => void) {
    this.post = post
  }

  /** What DomainCore sends through. */
  readonly send = (msg: DomainMessage): void => {
    if (msg.type === 'done') {
      const out = msg.execution.output
      if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer) this.transfer.push(out.buffer)
    }
    this.answers.push(msg)
    // answers wait while more than a couple of runs are still queued behind this one: the parent
    // then hands over the next runs while the last ones run, and this thread does not idle
    if ((msg.type === 'done' || msg.type === 'error') && this.queued - 1 > ANSWER_WITH_QUEUED) return
    this.flush()
  }

  /** A message from the parent: a run or runs to queue (anything else is ignored). */
  receive (core: DomainCore, m: RunRequest | RunBatch | undefined): void {
    const runs = m?.type === 'run' ? [m] : m?.type === 'runs' && Array.isArray(m.runs) ? m.runs : []
    for (const req of runs) {
      if (req?.type !== 'run') continue
      this.queued++
      this.chain = this.chain.then(async () => {
        try { await core.handle(req, this.atSlice) } finally { this.queued-- }
      })
    }
  }

  /** A run's fuel slice ended: the answers waiting go now (the run may be a long one). */
  private readonly atSlice = (): void => { if (this.answers.length > 0) this.flush() }

  private flush (): void {
    if (this.answers.length === 0) return
    const msg = this.answers.length === 1 ? this.answers[0] : { type: 'results' as const, messages: this.answers }
    const transfer = this.transfer
    this.answers = []
    this.transfer = []
    this.post(msg, transfer)
  }
}
