// The libp2p services every fabric node runs, Node or browser: identify,
// ping and gossipsub configured for capability-guarded topics.
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { MAX_GOSSIPSUB_FRAME } from './constants.ts'

function binary (bytes: Uint8Array | undefined): string {
  return bytes == null ? '' : String.fromCharCode(...bytes)
}

/** identify, ping and pub-sub, as every fabric node runs them. */
export function fabricServices (): Record<string, unknown> {
  return {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({
      // every message is signed by its author's peer key (StrictSign, the default),
      // which is what lets topic validators bind a message to a capability's audience
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // duplicates (the common case in a mesh) are recognised by author + seqno before
      // their signature is checked again; that is StrictSign's message id anyway, and
      // the cache only learns ids of messages whose signature verified
      fastMsgIdFn: msg => `${binary(msg.from)}|${binary(msg.seqno)}`,
      maxInboundDataLength: MAX_GOSSIPSUB_FRAME
    })
  }
}
