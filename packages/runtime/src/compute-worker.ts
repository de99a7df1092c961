// The worker side of compute: serves /webfabric/compute/1.0.0 for
// coordinators that hold the origin's `compute/assign` capability, while this
// node's compute lease to the origin is in force. Each run executes in the
// node's sandbox pool; each result goes back with a receipt signed by this
// node and recorded in its receipt log; countersignatures that come back are
// recorded beside them. Modules are cached by CID in memory and in a module
// store (on disk in Node). Browser-safe: a tab runs the same worker.
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  type Acceptance,
  type DomainResult,
  type Receipt,
  type ReceiptBody,
  type SandboxPoolBase,
  MAX_RECEIPT_BATCH,
  decodeAcceptance,
  encodeReceipt,
  rawCid as vmRawCid,
  signReceipts,
  verifyAcceptance
} from '@webfabric/compute'
import type { Identity } from '@webfabric/protocol'
import {
  COMPUTE_ASSIGN_NEED,
  COMPUTE_PROTOCOL,
  DEFAULT_TASK_MEMORY_BYTES,
  MAX_COMPUTE_FRAME,
  MAX_OUTPUT_BYTES,
  MAX_PIPELINE,
  MAX_STORED_BYTES,
  MAX_RESULTS_BYTES,
  MAX_RESULTS_PER_FRAME,
  type AcceptFrame,
  type ResultEntry,
  type RunFrame,
  type WorkerFrame,
  decodeCoordinatorFrame,
  encodeFrame,
  resultBytes
} from './compute-wire.ts'
import { type TaskStorage, TaskObjectMismatchError } from './compute-storage.ts'
import { FRAME_TIMEOUT_MS } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import { didOfPeer } from './peer-identity.ts'
import { sharedTimeout } from './shared-timeout.ts'
import { isTransportFailure } from './stream-errors.ts'

/** Where a worker keeps modules it was sent, by CID (it also caches the recent ones in memory). */
export interface ModuleStore {
  /** The bytes stored under `cid`, or undefined (unknown, or damaged: the caller re-checks the CID). */
  get: (cid: string) => Promise<Uint8Array | undefined>
  put: (cid: string, bytes: Uint8Array) => Promise<void>
}

/** A store that keeps nothing beyond the worker's memory cache (tabs). */
export const NO_MODULE_STORE: ModuleStore = { get: async () => undefined, put: async () => {} }

/** Where a worker records the receipts it signs and the acceptances that answer them. */
export interface ReceiptSink {
  /** Record a receipt this worker signed (`encoded`: its encodeReceipt bytes); returns its CID. */
  append: (receipt: Receipt, encoded: Uint8Array) => Promise<string>
  /** Record a verified acceptance; returns how many of our receipts it answered. */
  accept: (acceptance: Acceptance) => Promise<number>
}

/** Options of {@link ComputeWorker}. */
export interface ComputeWorkerInit {
  identity: Identity
  origin: string
  verifier: CredentialVerifier
  pool: SandboxPoolBase
  receipts: ReceiptSink
  /** where modules are kept beyond the memory cache */
  modules: ModuleStore
  /** the most memory one execution may have (the lease's memory limit) */
  maxMemoryBytes: number
  /** the compute lease in force (undefined: none, refuse work) */
  lease: () => { id: string } | undefined
  /** the fabric's storage, for large inputs (read) and outputs (write); undefined: this node takes no part */
  storage?: () => TaskStorage | undefined
  /** runs waiting or running before new ones are refused as busy (default MAX_PIPELINE per domain) */
  maxQueue?: number
  /**
   * Demonstrations and tests of byzantine tolerance only: this worker lies. 'wrong' returns a
   * corrupted output (with a matching CID and a fresh commitment) in every result; 'misnamed'
   * returns the true result with a receipt that names another input than the one it ran;
   * 'stored-wrong' returns true results but stores a corrupted copy of an output too large to carry.
   */
  saboteur?: 'wrong' | 'misnamed' | 'stored-wrong'
  log?: (msg: string) => void
}

/** CID string (v1, raw, sha2-256) of a module's, an input's or an output's bytes: the VM's. */
export async function rawCid (bytes: Uint8Array): Promise<string> {
  return (await vmRawCid(bytes)).toString()
}

/** A lie that looks well-formed: a flipped output byte, its true CID, and a commitment no honest run has. */
async function corrupt (r: DomainResult): Promise<DomainResult> {
  const output = r.output.byteLength === 0 ? new Uint8Array(1) : new Uint8Array(r.output)
  output[0] ^= 0xff
  const outputCid = await rawCid(output)
  return { ...r, status: 'ok', output, outputCid, commitment: await rawCid(new TextEncoder().encode(`${r.commitment} ${outputCid}`)) }
}

/** An execution's result and its receipt's body, waiting to be signed with its batch (`stored`: a large output's read capability). */
interface Executed { f: RunFrame, result: DomainResult, body: ReceiptBody, stored?: string }

const MODULE_CACHE_BYTES = 64 * 1024 * 1024
const EMPTY = new Uint8Array(0)
/**
 * How long a result waits for the others of its runs frame, so their receipts share a signature (ms):
 * as long as it took itself since the frame arrived, but at least BATCH_WAIT_MS and at most MAX_BATCH_WAIT_MS.
 */
const BATCH_WAIT_MS = 20
const MAX_BATCH_WAIT_MS = 100
const STREAM_IDLE_MS = 10 * 60_000

/** Serves compute assignments on this node. */
export class ComputeWorker {
  private readonly host: Host
  private readonly init: ComputeWorkerInit
  private readonly modules = new Map<string, Uint8Array>()
  private moduleBytes = 0
  private inFlight = 0
  private running = false
  /** executions finished with a result */
  runs = 0
  /** signatures made over receipts (one per batch: runs ÷ signatures is the batching) */
  signatures = 0
  /** frames or streams refused (bad shape, capability, no lease) */
  refused = 0
  /** bytes of compute frames received and sent */
  bytesIn = 0
  bytesOut = 0
  /** every run waiting or running, to stop them all at once */
  private readonly controllers = new Set<AbortController>()
  private idle?: PromiseWithResolvers<void>
  /** receipt bodies waiting for the signature in progress to finish; they are signed together */
  private readonly unsigned: Array<{ body: ReceiptBody, done: PromiseWithResolvers<Receipt> }> = []
  private signing = false
  /** large inputs read or being read, and the assignments waiting to read theirs */
  private storedHeld = 0
  private readonly storedWaiting: Array<() => void> = []

  constructor (host: Host, init: ComputeWorkerInit) {
    this.host = host
    this.init = init
  }

  get load (): number { return this.inFlight }

  async start (): Promise<void> {
    await this.host.handle(COMPUTE_PROTOCOL, (stream, conn) => { void this.onStream(stream, conn) }, { maxInboundStreams: 16 })
    this.running = true
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopWork()
    await this.host.unhandle(COMPUTE_PROTOCOL)
  }

  /**
   * Stop every run: running executions at their next fuel slice, queued ones before they start.
   * Each is answered to its coordinator as an error, so it reassigns the task.
   */
  stopWork (): void {
    for (const ac of this.controllers) ac.abort()
    this.init.pool.abortAll()
  }

  /** Resolves when no run is waiting or running. */
  async whenIdle (): Promise<void> {
    if (this.inFlight === 0) return
    this.idle ??= Promise.withResolvers<void>()
    await this.idle.promise
  }

  private async onStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    let coordinator: string
    try {
      coordinator = didOfPeer(conn.remotePeer)
    } catch (err) {
      this.refused++
      stream.abort(err as Error)
      return
    }
    const lp = lpStream(stream, { maxDataLength: MAX_COMPUTE_FRAME })
    let credential: Uint8Array | undefined
    // this coordinator's runs in progress, to cancel
    const running = new Map<string, AbortController>()
    // replies queued while a write is in flight leave together in one write
    let writes: Promise<void> = Promise.resolve()
    const outbox: WorkerFrame[] = []
    const writeDeadline = sharedTimeout(FRAME_TIMEOUT_MS * 6)
    const reply = (frame: WorkerFrame): void => {
      outbox.push(frame)
      if (outbox.length > 1) return
      writes = writes.then(async () => {
        const batch = outbox.splice(0).map(encodeFrame)
        for (const b of batch) this.bytesOut += b.byteLength
        await lp.writeV(batch, { signal: writeDeadline() })
      }).catch(err => { this.init.log?.(`compute reply to ${from} failed: ${(err as Error).message}`) })
    }
    const idle = sharedTimeout(STREAM_IDLE_MS)
    try {
      for (;;) {
        const signal = credential == null ? AbortSignal.timeout(FRAME_TIMEOUT_MS) : idle()
        let data: Awaited<ReturnType<typeof lp.read>>
        try {
          data = await lp.read({ signal })
        } catch (err) {
          if (credential != null && ((err as Error).name === 'UnexpectedEOFError' || signal.aborted)) { stream.abort(new Error('closed')); return }
          throw err
        }
        this.bytesIn += data.byteLength
        const frame = decodeCoordinatorFrame(data.subarray())
        if (frame.c !== undefined) credential = frame.c
        if (credential == null) throw new TypeError('the first compute frame on a stream must carry the coordinator\'s capability')
        // re-checked on every frame: cached, and a revocation takes effect mid-stream
        await this.init.verifier.check(from, credential, COMPUTE_ASSIGN_NEED)
        if (frame.k === 'run') void this.runAll(coordinator, [frame], reply, running)
        else if (frame.k === 'runs') void this.runAll(coordinator, frame.r.map(e => ({ k: 'run', a: e.a, j: frame.j, t: e.t, m: frame.m, i: e.i, ir: e.ir, ic: e.ic, f: frame.f, s: e.s, mem: frame.mem })), reply, running)
        else if (frame.k === 'cancel') running.get(frame.a)?.abort()
        else void this.accept(from, coordinator, frame)
      }
    } catch (err) {
      if (isTransportFailure(err)) { stream.abort(err as Error); return }
      this.refused++
      this.init.log?.(`refused a compute frame from ${from} and disconnected it: ${(err as Error).message}`)
      stream.abort(err as Error)
      disconnect(this.host, conn.remotePeer, err as Error)
    }
  }

  /**
   * Run assignments (one run frame, or the assignments of one runs frame) and answer each: a failure
   * at once, a result together with the others of its frame — their receipts signed as one batch —
   * but held for a slower one only as long as it took itself (BATCH_WAIT_MS..MAX_BATCH_WAIT_MS).
   */
  private async runAll (coordinator: string, frames: RunFrame[], reply: (frame: WorkerFrame) => void, running: Map<string, AbortController>): Promise<void> {
    // runs that took a place in inFlight keep it until their answer is sent
    const held: Array<{ a: string, ac: AbortController }> = []
    const ready: Executed[] = []
    const answers: Array<Promise<void>> = []
    let timer: ReturnType<typeof setTimeout> | undefined
    const answerReady = (): void => {
      clearTimeout(timer)
      timer = undefined
      if (ready.length > 0) answers.push(this.answer(ready.splice(0), reply))
    }
    let left = frames.length
    const arrived = performance.now()
    try {
      await Promise.all(frames.map(async f => {
        const e = await this.execute(coordinator, f, reply, running, held)
        left--
        if (e != null) {
          ready.push(e)
          // the others get as long again as this one took (queue included), within bounds: results of
          // a frame of short tasks behind another frame stay together, one of a long task is not held long
          timer ??= setTimeout(answerReady, Math.min(MAX_BATCH_WAIT_MS, Math.max(BATCH_WAIT_MS, performance.now() - arrived)))
        }
        if (left === 0) answerReady()
      }))
      await Promise.all(answers)
    } finally {
      for (const { a, ac } of held) {
        this.inFlight--
        running.delete(a)
        this.controllers.delete(ac)
      }
      if (this.inFlight === 0 && this.idle != null) { this.idle.resolve(); this.idle = undefined }
    }
  }

  /** Sign the receipts of executions together, log them, and send the results together. Never throws. */
  private async answer (executed: Executed[], reply: (frame: WorkerFrame) => void): Promise<void> {
    const fail = (a: string, err: unknown): void => reply({ k: 'error', a, name: (err as Error).name ?? 'Error', message: String((err as Error).message).slice(0, 1000) })
    let receipts: Receipt[]
    try {
      receipts = await this.signAll(executed.map(e => e.body))
    } catch (err) {
      for (const e of executed) fail(e.f.a, err)
      return
    }
    const entries = await Promise.all(executed.map(async ({ f, result, stored }, i): Promise<ResultEntry | undefined> => {
      try {
        const rc = encodeReceipt(receipts[i])
        await this.init.receipts.append(receipts[i], rc)
        this.runs++
        const entry: ResultEntry = { a: f.a, st: result.status, fuel: result.fuel, cm: result.commitment, oc: result.outputCid, o: stored == null ? result.output : EMPTY, rc, ms: Math.round(result.wallMs) }
        if (stored != null) entry.or = stored
        if (result.message != null) entry.msg = result.message.slice(0, 1000)
        return entry
      } catch (err) {
        fail(f.a, err)
        return undefined
      }
    }))
    // one results frame for them all, unless their outputs need more (a result alone always fits)
    let frame: ResultEntry[] = []
    let bytes = 0
    const send = (): void => {
      if (frame.length === 1) reply({ k: 'result', ...frame[0] })
      else if (frame.length > 1) reply({ k: 'results', r: frame })
      frame = []
      bytes = 0
    }
    for (const e of entries) {
      if (e == null) continue
      const n = resultBytes(e)
      if (frame.length >= MAX_RESULTS_PER_FRAME || (frame.length > 0 && bytes + n > MAX_RESULTS_BYTES)) send()
      frame.push(e)
      bytes += n
    }
    send()
  }

  /** Execute one assignment; a failure is answered here (undefined), a result returned with its receipt's body, unsigned. */
  private async execute (coordinator: string, f: RunFrame, reply: (frame: WorkerFrame) => void, running: Map<string, AbortController>, held: Array<{ a: string, ac: AbortController }>): Promise<Executed | undefined> {
    const fail = (name: string, message: string): undefined => { reply({ k: 'error', a: f.a, name, message }); return undefined }
    const lease = this.init.lease()
    if (lease == null || !this.running) { this.refused++; return fail('NoLeaseError', 'this device holds no compute lease for the origin in force: it does not run work') }
    if (this.inFlight >= (this.init.maxQueue ?? this.init.pool.size * MAX_PIPELINE)) return fail('BusyError', 'this worker is at capacity; assign the task elsewhere')
    const mem = f.mem ?? DEFAULT_TASK_MEMORY_BYTES
    if (mem > this.init.maxMemoryBytes) return fail('OverLeaseError', `the task asks for ${mem} bytes of memory; this device's lease lends at most ${this.init.maxMemoryBytes}`)
    this.inFlight++
    let holdsStored = false
    const ac = new AbortController()
    running.set(f.a, ac)
    this.controllers.add(ac)
    held.push({ a: f.a, ac })
    try {
      const module = await this.module(f)
      if (module == null) { reply({ k: 'need-module', a: f.a, m: f.m }); return undefined }
      if (f.ir != null) { await this.takeStoredSlot(); holdsStored = true }
      const input = f.ir == null ? f.i : await this.storedInput(f, ac.signal)
      let result = await this.init.pool.run({ module, moduleId: f.m, input, fuelLimit: f.f, seed: f.s, memoryLimitBytes: mem }, { signal: ac.signal })
      if (this.init.saboteur === 'wrong') result = await corrupt(result)
      // an output too large to carry back goes into the fabric's storage; the result names it
      let stored: string | undefined
      if (result.output.byteLength > MAX_OUTPUT_BYTES) {
        const storage = this.init.storage?.()
        if (storage?.canWrite !== true) return fail('NoStorageError', `the output is ${result.output.byteLength} bytes, more than a result carries (${MAX_OUTPUT_BYTES}), and this node may not store it (it needs storage/put from the origin)`)
        stored = await storage.write(this.init.saboteur === 'stored-wrong' ? (await corrupt(result)).output : result.output, ac.signal)
      }
      const body: ReceiptBody = {
        v: 1,
        origin: this.init.origin,
        job: f.j,
        task: f.t,
        assignment: f.a,
        module: result.moduleCid,
        input: this.init.saboteur === 'misnamed' ? result.moduleCid : result.inputCid,
        output: result.outputCid,
        status: result.status,
        fuel: result.fuel,
        commitment: result.commitment,
        wallMs: Math.round(result.wallMs),
        lease: lease.id,
        worker: this.init.identity.did,
        coordinator,
        at: Date.now()
      }
      return { f, result, body, stored }
    } catch (err) {
      return fail((err as Error).name ?? 'Error', (err as Error).message.slice(0, 1000))
    } finally {
      if (holdsStored) this.releaseStoredSlot()
    }
  }

  /**
   * Large inputs are read and held for at most a domain each and one more (read while the others run):
   * up to MAX_STORED_BYTES each, queued assignments must not all read theirs at once.
   */
  private async takeStoredSlot (): Promise<void> {
    if (this.storedHeld < this.init.pool.size + 1) { this.storedHeld++; return }
    await new Promise<void>(resolve => this.storedWaiting.push(resolve)) // a release hands its slot over
  }

  private releaseStoredSlot (): void {
    const next = this.storedWaiting.shift()
    if (next != null) next()
    else this.storedHeld--
  }

  /** A large input, read from the fabric's storage and checked against the CID the task names. */
  private async storedInput (f: RunFrame, signal: AbortSignal): Promise<Uint8Array> {
    const storage = this.init.storage?.()
    if (storage == null) throw Object.assign(new Error('the task\'s input is in the fabric\'s storage, and this node takes no part in storage (it needs storage/get from the origin)'), { name: 'NoStorageError' })
    const bytes = await storage.read(f.ir!, MAX_STORED_BYTES, signal)
    const cid = await rawCid(bytes)
    if (cid !== f.ic) throw new TaskObjectMismatchError(`the stored input hashes to ${cid}, not the CID ${f.ic} the task names`)
    return bytes
  }

  /**
   * Sign receipts: a batch's bodies are signed together, one signature over their Merkle root (each
   * receipt keeps its own path); bodies that arrive while a signature is being made wait for it and
   * are then signed together too.
   */
  private async signAll (bodies: ReceiptBody[]): Promise<Receipt[]> {
    const waiting = bodies.map(body => ({ body, done: Promise.withResolvers<Receipt>() }))
    this.unsigned.push(...waiting)
    if (!this.signing) void this.signQueued()
    return await Promise.all(waiting.map(async w => await w.done.promise))
  }

  private async signQueued (): Promise<void> {
    this.signing = true
    while (this.unsigned.length > 0) {
      const batch = this.unsigned.splice(0, MAX_RECEIPT_BATCH)
      try {
        const receipts = await signReceipts(this.init.identity, batch.map(b => b.body))
        this.signatures++
        for (const [i, b] of batch.entries()) b.done.resolve(receipts[i])
      } catch (err) {
        for (const b of batch) b.done.reject(err)
      }
    }
    this.signing = false
  }

  /** The module's bytes: from the frame (checked against its CID), memory or disk; undefined when we lack them. */
  private async module (f: RunFrame): Promise<Uint8Array | undefined> {
    if (f.mb != null) {
      const cid = await rawCid(f.mb)
      if (cid !== f.m) throw Object.assign(new Error(`the module bytes sent hash to ${cid}, not the CID ${f.m} the task names`), { name: 'ModuleCidMismatchError' })
      await this.cache(cid, f.mb)
      return f.mb
    }
    const hit = this.modules.get(f.m)
    if (hit != null) return hit
    if (!/^[a-z0-9]+$/.test(f.m)) return undefined
    const bytes = await this.init.modules.get(f.m).catch(() => undefined)
    if (bytes == null || await rawCid(bytes) !== f.m) return undefined // unknown or damaged: ask for it
    this.remember(f.m, bytes)
    return bytes
  }

  private async cache (cid: string, bytes: Uint8Array): Promise<void> {
    if (this.modules.has(cid)) return
    this.remember(cid, bytes)
    await this.init.modules.put(cid, bytes)
  }

  private remember (cid: string, bytes: Uint8Array): void {
    this.modules.set(cid, bytes)
    this.moduleBytes += bytes.byteLength
    while (this.moduleBytes > MODULE_CACHE_BYTES && this.modules.size > 1) {
      const [old, b] = this.modules.entries().next().value as [string, Uint8Array]
      this.modules.delete(old)
      this.moduleBytes -= b.byteLength
    }
  }

  private async accept (from: string, coordinator: string, f: AcceptFrame): Promise<void> {
    try {
      const acceptance = decodeAcceptance(f.ac)
      const body = await verifyAcceptance(acceptance)
      if (body.coordinator !== coordinator) return
      // only receipts we signed for this coordinator are recorded as answered
      await this.init.receipts.accept(acceptance)
    } catch (err) {
      this.init.log?.(`ignored an acceptance from ${from}: ${(err as Error).message}`)
    }
  }
}
