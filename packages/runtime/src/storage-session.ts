// Put and get as sessions an admin client drives piece by piece: a put is
// fed with write() calls (each resolves once the piece is taken by the put,
// so a client that awaits its writes never piles data up in the node), a get
// is drained with read() calls. Cap'n Web hands each session to the client
// as an object it alone holds.
import { concatBytes } from '@webfabric/protocol'
import { parseReadCap, type Redundancy, validateRedundancy } from '@webfabric/storage'
import type { PutResult, StorageProgress, StorageService } from './storage-service.ts'

/** Largest piece one write() may carry. */
export const MAX_PUT_PIECE = 8 * 2 ** 20

/** Options of a put session. */
export interface PutSessionOptions { redundancy: Redundancy, chunkSize?: number, pin?: boolean, size?: number }

/** A put in progress. */
export interface PutWriter {
  write (bytes: Uint8Array): Promise<void>
  finish (): Promise<PutResult>
  /** ends the put with `reason` (an Error keeps its name for whoever awaits the put) */
  abort (reason?: string | Error): void
}

/** A get in progress. */
export interface GetReader {
  /** the object's plaintext size */
  size: number
  read (): Promise<Uint8Array | null>
  close (): void
}

/** Pieces a put session takes ahead of the put (so the client's next write overlaps the put's work). */
const PUT_QUEUE = 2
/** Bytes one read() returns at most (chunks are joined up to this, to save round trips). */
export const MAX_GET_PIECE = 4 * 2 ** 20

/** Starts a put fed by write() calls; progress goes to `onProgress`. */
export function startPut (service: StorageService, opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): PutWriter {
  const redundancy = validateRedundancy(opts?.redundancy)
  // a short queue: write() resolves once its piece is queued; it waits while the queue is full
  const queue: Array<Uint8Array | null> = []
  let wakeReader: (() => void) | undefined
  let wakeWriter: (() => void) | undefined
  let failed: Error | undefined
  let writing = false
  const ac = new AbortController()
  async function * source (): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (queue.length === 0) await new Promise<void>(resolve => { wakeReader = resolve })
      const bytes = queue.shift()!
      wakeWriter?.()
      // an abort ends the source with an error, never as a short object
      if (failed != null) throw failed
      if (bytes == null) return
      yield bytes
    }
  }
  const size = Number.isSafeInteger(opts.size) && (opts.size as number) >= 0 ? opts.size : undefined
  const result = service.put(source(), { redundancy, chunkSize: opts.chunkSize, pin: opts.pin, size, onProgress, signal: ac.signal })
  result.catch(err => { failed = err as Error; wakeWriter?.() })
  const hand = async (bytes: Uint8Array | null): Promise<void> => {
    if (writing) throw new Error('one write at a time: await the previous write before the next')
    writing = true
    try {
      while (failed == null && queue.length >= PUT_QUEUE) await new Promise<void>(resolve => { wakeWriter = resolve })
      if (failed != null) throw failed
      queue.push(bytes)
      wakeReader?.()
    } finally {
      writing = false
    }
  }
  return {
    async write (bytes) {
      if (!(bytes instanceof Uint8Array)) throw new TypeError('write takes bytes')
      if (bytes.length > MAX_PUT_PIECE) throw new RangeError(`a write carries at most ${MAX_PUT_PIECE} bytes; split it`)
      await hand(bytes)
    },
    async finish () {
      await hand(null)
      return await result
    },
    abort (reason) {
      failed ??= reason instanceof Error ? reason : new Error(reason ?? 'the put was aborted')
      ac.abort(failed)
      queue.push(null)
      wakeReader?.()
      wakeWriter?.()
    }
  }
}

/** Starts a get drained by read() calls (null at the end); errors of locating and keys surface here. */
export async function startGet (service: StorageService, cap: string, onProgress?: (p: StorageProgress) => void): Promise<GetReader> {
  const ac = new AbortController()
  const { size, chunks } = await service.get(parseReadCap(cap), { onProgress, signal: ac.signal })
  let held: Uint8Array | undefined
  return {
    size,
    async read () {
      // join chunks up to MAX_GET_PIECE: one round trip per few MiB, not per chunk
      const parts: Uint8Array[] = []
      let bytes = 0
      if (held != null) { parts.push(held); bytes += held.length; held = undefined }
      while (bytes < MAX_GET_PIECE) {
        const n = await chunks.next()
        if (n.done === true) break
        if (bytes + n.value.length > MAX_GET_PIECE && parts.length > 0) { held = n.value; break }
        parts.push(n.value)
        bytes += n.value.length
      }
      if (parts.length === 0) return null
      return parts.length === 1 ? parts[0] : concatBytes(...parts)
    },
    close () {
      ac.abort()
      void chunks.return(undefined)
    }
  }
}
