// Chunk crypto off the main thread, in Node: sealing, opening and hashing a
// megabyte chunk costs the main thread 2–3 ms of AES-GCM and SHA-256, which
// a put or a get otherwise spends there one chunk after another. Here they
// run on worker threads (one per spare core, at most four) while the main
// thread moves the next chunk; small inputs stay inline, where a message
// would cost more than the work. Browsers need none of this: WebCrypto is
// already asynchronous there (aes-gcm.browser.ts, sha256.browser.ts).
//
// Bytes cross by transfer, never by copy: a job takes the ArrayBuffer of each
// input it is given (the caller's view is detached afterwards) and its
// results come back the same way. Callers that keep their bytes pass a copy.
import type { KeyObject } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** Inputs smaller than this are worked inline: the message round trip would cost more. */
export const OFFLOAD_MIN_BYTES = 64 * 1024

/** A job for a crypto worker; each input's whole ArrayBuffer moves to the worker. */
export type OffloadJob =
  | { op: 'seal', key: KeyObject, iv: Uint8Array, plain: Uint8Array<ArrayBuffer>, digest?: boolean }
  | { op: 'open', key: KeyObject, iv: Uint8Array, cipher: Uint8Array<ArrayBuffer> }
  | { op: 'sha256', bytes: Uint8Array<ArrayBuffer> }

/** What a job returns: the output bytes (the sealed or opened chunk, or the hashed bytes handed back) and their SHA-256 digest for sha256 (and seal, when asked). */
export interface OffloadResult { bytes: Uint8Array<ArrayBuffer>, digest?: Uint8Array<ArrayBuffer> }

/** A job's failure as the worker reports it (e.g. an AES-GCM tag that does not check). */
export class OffloadJobError extends Error {
  static name = 'OffloadJobError'
  constructor (message = 'a crypto job failed', options?: ErrorOptions) { super(message, options); this.name = 'OffloadJobError' }
}

/** The worker stopped (crashed, or was cut) before it answered: the job may be tried again. */
export class OffloadWorkerError extends Error {
  static name = 'OffloadWorkerError'
  constructor (message = 'the crypto worker stopped before it answered; try again', options?: ErrorOptions) { super(message, options); this.name = 'OffloadWorkerError' }
}

interface Pending { resolve: (r: OffloadResult) => void, reject: (e: Error) => void }

/** One worker thread and the jobs it owes answers to. */
class CryptoWorker {
  readonly pending = new Map<number, Pending>()
  private readonly worker: Worker
  private dead = false
  private answered = false

  constructor (onDead: (w: CryptoWorker) => void) {
    this.worker = new Worker(workerUrl, { name: 'webfabric-storage-crypto', env: {}, stdout: false, stderr: false })
    this.worker.unref()
    this.worker.on('message', (m: { id: number, bytes?: Uint8Array<ArrayBuffer>, digest?: Uint8Array<ArrayBuffer>, spare?: ArrayBuffer, error?: string }) => {
      this.answered = true
      if (m.spare != null) keepSpare(m.spare)
      const p = this.pending.get(m.id)
      if (p == null) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) this.worker.unref()
      if (m.error != null || m.bytes == null) p.reject(new OffloadJobError(m.error))
      else p.resolve({ bytes: m.bytes, digest: m.digest })
    })
    const die = (err?: Error): void => {
      if (this.dead) return
      this.dead = true
      onDead(this)
      for (const p of this.pending.values()) p.reject(new OffloadWorkerError(undefined, { cause: err }))
      this.pending.clear()
    }
    this.worker.on('error', err => {
      // a worker that fails before its first answer will fail again (it cannot load here, say): work inline from now on
      if (!this.answered) size = 0
      die(err)
    })
    this.worker.on('exit', () => { die() })
  }

  async stop (): Promise<void> { await this.worker.terminate() }

  run (id: number, job: OffloadJob, transfer: ArrayBuffer[]): Promise<OffloadResult> {
    const { promise, resolve, reject } = Promise.withResolvers<OffloadResult>()
    // (referenced while it owes answers: a process awaiting a job must not exit under it)
    if (this.pending.size === 0) this.worker.ref()
    this.pending.set(id, { resolve, reject })
    this.worker.postMessage({ id, ...job }, transfer)
    return promise
  }
}

const workers: CryptoWorker[] = []
/** Crypto workers to run: one per core beside the main thread's, at most four — none on one core, where a worker only adds its messages. */
let size = Math.max(0, Math.min(4, availableParallelism() - 1))
let nextId = 0

/** True when `bytes` of work go to a crypto worker (large enough, and workers run on this machine). */
export function offloads (bytes: number): boolean {
  return size > 0 && bytes >= OFFLOAD_MIN_BYTES
}

let workerUrl = new URL('./offload-worker.ts', import.meta.url)

/**
 * Sets how many crypto workers may run (0: everything inline); for tests and hosts that know better.
 * `url`: the worker's module (tests: one that cannot load).
 */
export function setCryptoWorkers (n: number, opts: { url?: URL } = {}): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > 64) throw new RangeError(`crypto workers: an integer 0..64, not ${n}`)
  size = n
  workerUrl = opts.url ?? new URL('./offload-worker.ts', import.meta.url)
}

/** Crypto workers running now. */
export function cryptoWorkersRunning (): number { return workers.length }

/**
 * Runs `job` on a crypto worker (the least busy; started on first use), taking each input's
 * ArrayBuffer. Rejects with OffloadJobError when the work itself fails, OffloadWorkerError when the
 * worker stops first.
 */
export async function offload (job: OffloadJob): Promise<OffloadResult> {
  const input = job.op === 'seal' ? job.plain : job.op === 'open' ? job.cipher : job.bytes
  if (input.byteOffset !== 0 || input.byteLength !== input.buffer.byteLength) throw new RangeError('an offloaded input must be a whole ArrayBuffer (it is transferred)')
  let w: CryptoWorker | undefined
  if (workers.length < Math.max(1, size)) {
    w = new CryptoWorker(dead => {
      const i = workers.indexOf(dead)
      if (i >= 0) workers.splice(i, 1) // (a stopped worker's exit comes after stopCryptoWorkers took it out)
    })
    workers.push(w)
  } else {
    for (const c of workers) if (w == null || c.pending.size < w.pending.size) w = c
  }
  return await w!.run(nextId++, job, [input.buffer])
}

/** Stops the crypto workers (jobs they owe reject with OffloadWorkerError); the next job starts new ones. */
export async function stopCryptoWorkers (): Promise<void> {
  await Promise.all(workers.splice(0).map(async w => { await w.stop() }))
}

// Inputs a worker has consumed (a sealed plaintext, an opened ciphertext) come back as spares, and the
// next copy of the same size goes into one: fresh megabytes cost page faults and, as external memory,
// garbage collections — both on the main thread. A spare is always overwritten whole before use.
const spares: ArrayBuffer[] = []
const MAX_SPARES = 16

function keepSpare (buffer: ArrayBuffer): void {
  if (buffer.byteLength < OFFLOAD_MIN_BYTES || buffer.detached) return
  if (spares.length >= MAX_SPARES) spares.shift()
  spares.push(buffer)
}

/** A buffer of exactly `size` bytes for a copy that fills it: a spare of that size, or a fresh one. */
function bufferFor (size: number): Uint8Array<ArrayBuffer> {
  for (let i = spares.length - 1; i >= 0; i--) {
    if (spares[i].byteLength === size) return new Uint8Array(spares.splice(i, 1)[0])
  }
  return new Uint8Array(size)
}

/** `bytes` as a whole ArrayBuffer of its own: itself when it already is one and may be taken, else a copy. */
export function ownBuffer (bytes: Uint8Array, mayTake: boolean): Uint8Array<ArrayBuffer> {
  if (mayTake && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes as Uint8Array<ArrayBuffer>
  const copy = bufferFor(bytes.byteLength)
  copy.set(bytes)
  return copy
}

/** `pieces` joined into one whole ArrayBuffer of its own (a lone piece that may be taken is taken as it is). */
export function joinOwned (pieces: readonly Uint8Array[], mayTake: boolean): Uint8Array<ArrayBuffer> {
  if (pieces.length === 1) return ownBuffer(pieces[0], mayTake)
  let length = 0
  for (const p of pieces) length += p.byteLength
  const out = bufferFor(length)
  let at = 0
  for (const p of pieces) { out.set(p, at); at += p.byteLength }
  return out
}
