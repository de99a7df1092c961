// Put and get as sessions an admin client drives piece by piece: a put is
// fed with write() calls (each resolves once the piece is taken by the put,
// so a client that awaits its writes never piles data up in the node), a get
// is drained with read() calls. Cap'n Web hands each session to the client
// as an object it alone holds.
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
  abort (reason?: string): void
}

/** A get in progress. */
export interface GetReader {
  /** the object's plaintext size */
  size: number
  read (): Promise<Uint8Array | null>
  close (): void
}

/** Starts a put fed by write() calls; progress goes to `onProgress`. */
export function startPut (service: StorageService, opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): PutWriter {
  const redundancy = validateRedundancy(opts?.redundancy)
  // a one-slot hand-off: write() waits until the put has taken the previous piece
  let slot: { bytes: Uint8Array | null, taken: () => void } | undefined
  let wake: (() => void) | undefined
  let failed: Error | undefined
  const ac = new AbortController()
  async function * source (): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (slot == null) await new Promise<void>(resolve => { wake = resolve })
      const { bytes, taken } = slot
      slot = undefined
      taken()
      if (bytes == null) return
      yield bytes
    }
  }
  const size = Number.isSafeInteger(opts.size) && (opts.size as number) >= 0 ? opts.size : undefined
  const result = service.put(source(), { redundancy, chunkSize: opts.chunkSize, pin: opts.pin, size, onProgress, signal: ac.signal })
  result.catch(err => { failed = err as Error })
  const hand = async (bytes: Uint8Array | null): Promise<void> => {
    if (failed != null) throw failed
    if (slot != null) throw new Error('one write at a time: await the previous write before the next')
    await Promise.race([
      new Promise<void>(resolve => { slot = { bytes, taken: resolve }; wake?.(); wake = undefined }),
      result.then(() => {}, () => {})
    ])
    if (failed != null) throw failed
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
      failed ??= new Error(reason ?? 'the put was aborted')
      ac.abort(failed)
      wake?.()
    }
  }
}

/** Starts a get drained by read() calls (null at the end); errors of locating and keys surface here. */
export async function startGet (service: StorageService, cap: string, onProgress?: (p: StorageProgress) => void): Promise<GetReader> {
  const ac = new AbortController()
  const { size, chunks } = await service.get(parseReadCap(cap), { onProgress, signal: ac.signal })
  return {
    size,
    async read () {
      const n = await chunks.next()
      return n.done === true ? null : n.value
    },
    close () {
      ac.abort()
      void chunks.return(undefined)
    }
  }
}
