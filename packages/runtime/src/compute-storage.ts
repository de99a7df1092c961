// Large task inputs and outputs through the fabric's storage: a compute frame
// carries an object's read capability instead of bytes beyond the inline
// limits (compute-wire.ts). The coordinator stores a large input once and
// every replica's worker reads it; a worker stores a large output and the
// coordinator reads the accepted one. Integrity does not rest on the storage:
// the reader checks the plaintext against the CID the task (or the result's
// receipt) names. Browser-safe.
import { parseReadCap } from '@webfabric/storage'
import { MAX_STORED_BYTES } from './compute-wire.ts'
import type { StorageService } from './storage-service.ts'

/** What compute needs of storage. */
export interface TaskStorage {
  /** The bytes behind a read capability; refuses an object over `limit` bytes before reading it. */
  read: (cap: string, limit: number, signal?: AbortSignal) => Promise<Uint8Array>
  /** Store bytes, unpinned (holders drop them when their storage lease ends); resolves to the read capability. */
  write: (bytes: Uint8Array, signal?: AbortSignal) => Promise<string>
  /** whether this node may write (the origin granted it storage/put) */
  canWrite: boolean
}

/** A task object bigger than compute moves, or than its reader takes. */
export class TaskObjectTooLargeError extends Error {
  static name = 'TaskObjectTooLargeError'
  constructor (message = `a task's input or output is at most ${MAX_STORED_BYTES} bytes`) { super(message); this.name = 'TaskObjectTooLargeError' }
}

/** A task object that does not hash to the CID named for it. */
export class TaskObjectMismatchError extends Error {
  static name = 'TaskObjectMismatchError'
  constructor (message = 'the stored object does not hash to the CID the task names') { super(message); this.name = 'TaskObjectMismatchError' }
}

/** Copies kept of a stored task object (fewer when the fabric has fewer storage members). */
const TASK_OBJECT_REPLICAS = 2

/** TaskStorage over this node's storage service. */
export function taskStorage (service: StorageService, canWrite: boolean): TaskStorage {
  return {
    canWrite,
    async read (cap, limit, signal) {
      const { size, chunks } = await service.get(parseReadCap(cap), { signal })
      if (size > limit) {
        await chunks.return(undefined)
        throw new TaskObjectTooLargeError(`the stored object is ${size} bytes; at most ${limit} are taken`)
      }
      const out = new Uint8Array(size)
      let at = 0
      for await (const piece of chunks) {
        if (at + piece.byteLength > size) throw new TaskObjectTooLargeError('the stored object is longer than its root says')
        out.set(piece, at)
        at += piece.byteLength
      }
      if (at !== size) throw new TaskObjectMismatchError(`the stored object ended after ${at} of its ${size} bytes`)
      return out
    },
    async write (bytes, signal) {
      if (bytes.byteLength > MAX_STORED_BYTES) throw new TaskObjectTooLargeError()
      const r = Math.max(1, Math.min(TASK_OBJECT_REPLICAS, service.storageMembers().length))
      const put = await service.put((async function * () { yield bytes })(), { redundancy: { kind: 'replicas', r }, size: bytes.byteLength, pin: false, signal })
      return put.cap
    }
  }
}
