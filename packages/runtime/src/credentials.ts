// Verifying the capabilities peers present with their frames. Each call
// between nodes carries a capability rooted at the origin. A verification's
// outcome is kept as a Verdict, cached per (peer, resource, ability) with the
// exact bytes it covers, so the hot path costs one byte compare; a verdict is
// re-checked on every use against this verifier's clock (not-before, expiry)
// and the revocations (any revocation added since it was reached that names a
// token of its chain sends the caller back to full verification).
import {
  type Capability,
  type RevocationSet,
  type VerifiedCapability,
  bytesEqual,
  decodeCapability,
  verifyCapability
} from '@webfabric/protocol'
import { MAX_CAPABILITY_BYTES } from './constants.ts'
import { didOfPeer } from './peer-identity.ts'

/** What a capability must grant for a call to be accepted. */
export interface Need { resource: string, ability: string }

/**
 * The outcome of verifying `bytes` for one peer and one need. Immutable but for
 * `version`, which the verifier advances as revocations that spare the chain arrive.
 * Ask `holds` before each use: it may have expired or been revoked since.
 */
export interface Verdict {
  readonly verified: VerifiedCapability
  readonly bytes: Uint8Array
  /** the revocation set's version this verdict was last known to stand at */
  version: number
}

/** Most cached verdicts; beyond, the cache starts over. */
const MAX_VERDICTS = 4096

/** Verifies and caches the capabilities that remote peers present. */
export class CredentialVerifier {
  private readonly origin: string
  private readonly revocations: RevocationSet
  /** this verifier's clock (ms): every time window is judged by it */
  readonly now: () => number
  private readonly cache = new Map<string, Verdict>()

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
    return (await this.verdict(peer, bytes, need)).verified
  }

  /**
   * Like `check`, but resolves to the Verdict, which a caller may keep and
   * re-validate with `holds` on every later use without an async hop. The
   * caller answers for binding it to the same peer, bytes and need again.
   */
  async verdict (peer: string, bytes: Uint8Array, need: Need): Promise<Verdict> {
    const key = `${peer} ${need.resource} ${need.ability}`
    const hit = this.cache.get(key)
    if (hit != null && (hit.bytes === bytes || bytesEqual(hit.bytes, bytes))) {
      if (this.holds(hit)) return hit
      this.cache.delete(key)
    }
    // read the version before verifying: a revocation added while we await is then seen by `holds`
    const version = this.revocations.version
    const cap: Capability = await decodeCapability(bytes, { maxBytes: MAX_CAPABILITY_BYTES })
    const verified = await verifyCapability(cap, {
      now: this.now(),
      root: this.origin,
      audience: didOfPeer(peer),
      need,
      revocations: this.revocations
    })
    if (this.cache.size >= MAX_VERDICTS) this.cache.clear()
    const v: Verdict = { verified, bytes: cap.bytes, version }
    this.cache.set(key, v)
    return v
  }

  /**
   * True while `v` still stands now: within its time window by this verifier's
   * clock, and no revocation added since it was reached names a token of its
   * chain. False means verify again (`verdict`): only that honours who signed
   * a revocation, so a revocation by someone without authority over the chain
   * costs one full verification, not one per use.
   */
  holds (v: Verdict): boolean {
    const now = this.now()
    if (!(v.verified.notBefore <= now && now < v.verified.expiresAt)) return false
    const version = this.revocations.version
    if (v.version === version) return true
    for (const id of v.verified.chain) if (this.revocations.has(id)) return false
    v.version = version
    return true
  }

  /** Forget cached verdicts (revocations invalidate them by themselves; this frees the memory). */
  clear (): void {
    this.cache.clear()
  }
}
