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
  type SandboxPoolBase,
  decodeAcceptance,
  encodeReceipt,
  rawCid as vmRawCid,
  signReceipt,
  verifyAcceptance
} from '@webfabric/compute'
import type { Identity } from '@webfabric/protocol'
import {
  COMPUTE_ASSIGN_NEED,
  COMPUTE_PROTOCOL,
  DEFAULT_TASK_MEMORY_BYTES,
  MAX_COMPUTE_FRAME,
  type AcceptFrame,
  type RunFrame,
  type WorkerFrame,
  decodeCoordinatorFrame,
  encodeFrame
} from './compute-wire.ts'
import { FRAME_TIMEOUT_MS } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import { didOfPeer } from './peer-identity.ts'
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
  /** runs waiting or running before new ones are refused as busy (default 4 per domain) */
  maxQueue?: number
  /**
   * Demonstrations and tests of byzantine tolerance only: this worker lies. 'wrong' returns a
   * corrupted output (with a matching CID and a fresh commitment) in every result.
   */
  saboteur?: 'wrong'
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

const MODULE_CACHE_BYTES = 64 * 1024 * 1024
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
  /** frames or streams refused (bad shape, capability, no lease) */
  refused = 0
  /** bytes of compute frames received and sent */
  bytesIn = 0
  bytesOut = 0
  /** every run waiting or running, to stop them all at once */
  private readonly controllers = new Set<AbortController>()
  private idle?: PromiseWithResolvers<void>

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
    const reply = (frame: WorkerFrame): void => {
      outbox.push(frame)
      if (outbox.length > 1) return
      writes = writes.then(async () => {
        const batch = outbox.splice(0).map(encodeFrame)
        for (const b of batch) this.bytesOut += b.byteLength
        await lp.writeV(batch, { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS * 6) })
      }).catch(err => { this.init.log?.(`compute reply to ${from} failed: ${(err as Error).message}`) })
    }
    try {
      for (;;) {
        const signal = AbortSignal.timeout(credential == null ? FRAME_TIMEOUT_MS : STREAM_IDLE_MS)
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
        if (frame.k === 'run') void this.run(coordinator, frame, reply, running)
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

  private async run (coordinator: string, f: RunFrame, reply: (frame: WorkerFrame) => void, running: Map<string, AbortController>): Promise<void> {
    const fail = (name: string, message: string): void => reply({ k: 'error', a: f.a, name, message })
    const lease = this.init.lease()
    if (lease == null || !this.running) { this.refused++; fail('NoLeaseError', 'this device holds no compute lease for the origin in force: it does not run work'); return }
    if (this.inFlight >= (this.init.maxQueue ?? this.init.pool.size * 4)) { fail('BusyError', 'this worker is at capacity; assign the task elsewhere'); return }
    const mem = f.mem ?? DEFAULT_TASK_MEMORY_BYTES
    if (mem > this.init.maxMemoryBytes) { fail('OverLeaseError', `the task asks for ${mem} bytes of memory; this device's lease lends at most ${this.init.maxMemoryBytes}`); return }
    this.inFlight++
    const ac = new AbortController()
    running.set(f.a, ac)
    this.controllers.add(ac)
    try {
      const module = await this.module(f)
      if (module == null) { reply({ k: 'need-module', a: f.a, m: f.m }); return }
      let result: DomainResult
      try {
        result = await this.init.pool.run({ module, moduleId: f.m, input: f.i, fuelLimit: f.f, seed: f.s, memoryLimitBytes: mem }, { signal: ac.signal })
      } catch (err) {
        fail((err as Error).name ?? 'Error', (err as Error).message.slice(0, 1000))
        return
      }
      if (this.init.saboteur === 'wrong') result = await corrupt(result)
      const receipt = await signReceipt(this.init.identity, {
        v: 1,
        origin: this.init.origin,
        job: f.j,
        task: f.t,
        assignment: f.a,
        module: result.moduleCid,
        input: result.inputCid,
        output: result.outputCid,
        status: result.status,
        fuel: result.fuel,
        commitment: result.commitment,
        wallMs: Math.round(result.wallMs),
        lease: lease.id,
        worker: this.init.identity.did,
        coordinator,
        at: Date.now()
      })
      const rc = encodeReceipt(receipt)
      await this.init.receipts.append(receipt, rc)
      this.runs++
      reply({
        k: 'result',
        a: f.a,
        st: result.status,
        msg: result.message?.slice(0, 1000),
        fuel: result.fuel,
        cm: result.commitment,
        oc: result.outputCid,
        o: result.output,
        rc,
        ms: Math.round(result.wallMs)
      })
    } catch (err) {
      fail((err as Error).name ?? 'Error', (err as Error).message.slice(0, 1000))
    } finally {
      this.inFlight--
      running.delete(f.a)
      this.controllers.delete(ac)
      if (this.inFlight === 0 && this.idle != null) { this.idle.resolve(); this.idle = undefined }
    }
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
