// Length-prefixed DAG-CBOR frames over libp2p streams, with a size limit
// enforced before any decoding (the length prefix is read first).
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { decode, encode } from '@webfabric/protocol'

/** Write one frame and close our side of the stream. */
export async function writeFrame (stream: Stream, value: unknown, options: { maxBytes: number, signal?: AbortSignal }): Promise<void> {
  const bytes = encode(value)
  if (bytes.length > options.maxBytes) throw new RangeError(`frame of ${bytes.length} bytes exceeds the ${options.maxBytes}-byte limit`)
  const lp = lpStream(stream, { maxDataLength: options.maxBytes })
  await lp.write(bytes, { signal: options.signal })
  await stream.close({ signal: options.signal })
}

/**
 * Read exactly one frame from a stream. Throws (never returns garbage) when the
 * frame is oversized, truncated or not DAG-CBOR; the caller disconnects the peer.
 */
export async function readFrame (stream: Stream, options: { maxBytes: number, signal?: AbortSignal }): Promise<unknown> {
  const lp = lpStream(stream, { maxDataLength: options.maxBytes })
  const data = await lp.read({ signal: options.signal })
  return decode(data.subarray(), { maxBytes: options.maxBytes })
}
