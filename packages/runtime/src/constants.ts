import { base32 } from 'multiformats/bases/base32'

// Protocol ids and limits of the node. Protocol ids follow DESIGN.md §6:
// /webfabric/<service>/<semver>. Every frame has a size limit checked before decoding.

/** Gossip membership (WebFabricGossip) frames between nodes. */
export const MEMBERSHIP_PROTOCOL = '/webfabric/membership/1.0.0'

/** Largest membership frame accepted (bytes); larger frames disconnect the peer. */
export const MAX_MEMBERSHIP_FRAME = 256 * 1024

/** Largest pub-sub envelope (capability + payload) accepted, in bytes. */
export const MAX_PUBSUB_MESSAGE = 64 * 1024

/** Largest gossipsub RPC frame accepted (an envelope plus gossipsub's own framing). */
export const MAX_GOSSIPSUB_FRAME = MAX_PUBSUB_MESSAGE + 4096

/** Largest capability token accepted inside a frame or envelope. */
export const MAX_CAPABILITY_BYTES = 16 * 1024

/** Membership round and failure-detection TTL used by real nodes (ms). */
export const MEMBERSHIP_INTERVAL_MS = 500
export const MEMBERSHIP_TTL_MS = 5000

/** How long a stream may take to deliver one frame before it is aborted. */
export const FRAME_TIMEOUT_MS = 5000

/** Frames with bad shape or signatures a peer may send before it is disconnected. */
export const MAX_STRIKES = 1

/**
 * Prefix of every gossipsub topic of one origin's fabric: a short tag derived
 * from the origin's did (every message carries its topic string, so it is kept short).
 */
export async function topicPrefix (origin: string): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(origin)))
  return `/wf/${base32.encode(digest.subarray(0, 10)).slice(1)}/`
}
