// Deadlines for the frames of a long-lived stream without a timer per frame.
// AbortSignal.timeout(ms) arms a timer that fires ms later whether or not the
// read or write it bounded is long done (unless the signal was collected by
// then), and firing builds a DOMException with its stack: at a thousand
// frames a second that was a few per cent of a busy node's main thread.

/** How long one shared signal serves new reads or writes (ms): their deadlines come at most this much early. */
export const SHARE_MS = 1000

/**
 * Returns a function giving an AbortSignal that aborts `ms` after it was made, made afresh when the
 * last one is older than SHARE_MS (or aborted): every read or write it bounds gets `ms - SHARE_MS`
 * to `ms`, and a stream arms about one timer a second however many frames it carries.
 */
export function sharedTimeout (ms: number): () => AbortSignal {
  let signal: AbortSignal | undefined
  let made = 0
  return () => {
    const now = performance.now()
    if (signal == null || signal.aborted || now - made >= SHARE_MS) {
      signal = AbortSignal.timeout(ms)
      made = now
    }
    return signal
  }
}
