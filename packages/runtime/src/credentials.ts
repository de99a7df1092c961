// Verifying the capabilities peers present with their frames. Each call
// between nodes carries a capability rooted at the origin; a verified one is
// cached per peer by its exact bytes so the hot path costs one byte compare,
// while expiry and revocation are re-checked on every use.
import {
  type Capability,
  type RevocationSet,
  type VerifiedCapability,
  decodeCapability,
  verifyCapability
} from '@webfabric/protocol'
import { MAX_CAPABILITY_BYTES } from './constants.ts'
import { didOfPeer } from './peer-identity.ts'

interface CacheEntry { bytes: Uint8Array, verified: VerifiedCapability }

/** What a capability must grant for a call to be accepted. */
export interface Need { resource: string, ability: string }

/** Verifies and caches the capabilities that remote peers present. */
export class CredentialVerifier {
  private readonly origin: string
  private readonly revocations: RevocationSet
  private readonly now: () => number
  private readonly cache = new Map<string, CacheEntry>()

  constructor (init: { origin: string, revocations: RevocationSet, now?: () => number }) {
    this.origin = init.origin
    this.revocations = init.revocations
    this.now = init.now ?? Date.now
  }

  /**
   * Check that `bytes` is a capability rooted at the origin, addressed to
   * `peer`, granting `need`, unexpired and unrevoked. Throws the protocol's
   * named errors (MalformedError, WrongAudienceError, TokenExpiredError, …).
   */
  async check (peer: string, bytes: Uint8Array, need: Need): Promise<VerifiedCapability> {
    const key = `${peer} ${need.resource} ${need.ability}`
    const hit = this.cache.get(key)
    const now = this.now()
    if (hit != null && equalBytes(hit.bytes, bytes)) {
      const v = hit.verified
      // any revocation naming a token of the chain sends us back to full verification,
      // which honours only revocations signed by an issuer of that chain
      if (v.expiresAt > now && v.notBefore <= now && !v.chain.some(id => this.revocations.has(id))) return v
      this.cache.delete(key)
    }
    const cap: Capability = await decodeCapability(bytes, { maxBytes: MAX_CAPABILITY_BYTES })
    const verified = await verifyCapability(cap, {
      now,
      root: this.origin,
      audience: didOfPeer(peer),
      need,
      revocations: this.revocations
    })
    if (this.cache.size > 4096) this.cache.clear()
    this.cache.set(key, { bytes, verified })
    return verified
  }

  /** Forget cached verdicts (after a revocation arrives). */
  clear (): void {
    this.cache.clear()
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
