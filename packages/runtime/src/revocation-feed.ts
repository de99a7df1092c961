// The revocation feed: signed revocations gossiped on `/wf/<tag>/revocations`.
// Only members may publish (each message carries its author's membership
// capability) and a revocation counts only when its signature checks; whether
// it revokes a given token (signed by an issuer of that token's chain) is the
// RevocationSet's rule. Node nodes and tabs run the same feed. Browser-safe.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import {
  type Revocation,
  MAX_REVOCATION_BYTES,
  decode,
  decodeRevocation,
  encode,
  encodeRevocation,
  verifyRevocationSignature
} from '@webfabric/protocol'
import { MAX_CAPABILITY_BYTES } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import type { Host } from './host.ts'
import { MEMBERSHIP_NEED } from './membership-service.ts'

/** Options of {@link RevocationFeed}. */
export interface RevocationFeedInit {
  /** the feed's gossipsub topic: `${topicPrefix(origin)}revocations` */
  topic: string
  verifier: CredentialVerifier
  /** this node's membership capability, carried on what it publishes */
  credential: Uint8Array
  /** called with each verified revocation (persist it, add it to the set); true when it was new */
  accept: (rev: Revocation) => Promise<boolean>
}

/** Receives and publishes revocations. */
export class RevocationFeed {
  private readonly host: Host
  private readonly init: RevocationFeedInit

  constructor (host: Host, init: RevocationFeedInit) {
    this.host = host
    this.init = init
  }

  start (): void {
    const ps = this.host.services.pubsub
    ps.topicValidators.set(this.init.topic, async (_peer, msg) => {
      try {
        if (msg.type !== 'signed') return TopicValidatorResult.Reject
        const env = decode(msg.data, { maxBytes: MAX_CAPABILITY_BYTES + MAX_REVOCATION_BYTES + 64 }) as { c?: unknown, r?: unknown }
        if (!(env?.c instanceof Uint8Array) || !(env.r instanceof Uint8Array)) return TopicValidatorResult.Reject
        await this.init.verifier.check(msg.from.toString(), env.c, MEMBERSHIP_NEED)
        const rev = decodeRevocation(env.r)
        if (!await verifyRevocationSignature(rev)) return TopicValidatorResult.Reject
        await this.init.accept(rev)
        return TopicValidatorResult.Accept
      } catch {
        return TopicValidatorResult.Reject
      }
    })
    ps.subscribe(this.init.topic)
  }

  stop (): void {
    const ps = this.host.services.pubsub
    ps.topicValidators.delete(this.init.topic)
    try { ps.unsubscribe(this.init.topic) } catch {}
  }

  /** Accept our own revocation and gossip it; resolves with how many peers it was sent to (0: none took it). */
  async publish (rev: Revocation): Promise<number> {
    await this.init.accept(rev)
    const env = encode({ c: this.init.credential, r: encodeRevocation(rev) })
    try {
      return (await this.host.services.pubsub.publish(this.init.topic, env)).recipients.length
    } catch {
      return 0
    }
  }
}
