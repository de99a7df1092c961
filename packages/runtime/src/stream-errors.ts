// Telling a peer's offence from the network's failure. A stream that is reset,
// aborted or closed under us, or that times out, says nothing about the peer
// (a loaded machine, a dropped connection, the peer restarting); only what
// the peer actually sent (garbage, truncation, a bad capability) makes it an
// offender whose connection is cut.

const TRANSPORT_FAILURES = new Set([
  'AbortError',
  'TimeoutError',
  'StreamResetError',
  'StreamAbortedError',
  'StreamStateError',
  'StreamClosedError',
  'MuxerClosedError',
  'ConnectionClosedError'
])

/** True when `err` is the transport failing, not the peer misbehaving. */
export function isTransportFailure (err: unknown): boolean {
  return TRANSPORT_FAILURES.has((err as Error)?.name)
}
