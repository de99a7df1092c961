// WebAnchorProvider: where signed commitments to a node's pinned roots are
// published. The default is an append-only, hash-chained local log
// (LocalAnchorLog); other anchors (a transparency log, a consensus group,
// a public chain) implement the same interface.
import type { SignedAnchor } from './commitment.ts'

/** Options every operation takes. */
export interface AnchorAbortOptions {
  signal?: AbortSignal
}

/** Options of `history`. */
export interface AnchorHistoryOptions extends AnchorAbortOptions {
  /** first seq to yield (default 1) */
  fromSeq?: number
}

/** What a provider hands back for a published anchor: where it is, so its presence can be checked later. */
export interface AnchorReceipt {
  /** the provider's name (AnchorProvider.name) */
  provider: string
  issuer: string
  seq: number
  /** anchorCid of the published anchor (string form) */
  anchor: string
  /** position of its entry in the provider's log */
  index: number
  /** CID of that entry (string form); it chains every entry before it */
  entry: string
}

/** A place to publish anchors. Every method refuses bad input with a named error. */
export interface AnchorProvider {
  /** names the provider in receipts */
  readonly name: string
  /**
   * Verify and append an anchor; resolves once it is stored durably. Refuses with
   * MalformedError, InvalidSignatureError, StaleAnchorError (seq not above the issuer's
   * latest: a replay) or AnchorChainError (prev is not the issuer's latest, or seq skips).
   */
  publish: (anchor: SignedAnchor, options?: AnchorAbortOptions) => Promise<AnchorReceipt>
  /** The issuer's latest anchor; undefined when it has published none here. */
  latest: (issuer: string, options?: AnchorAbortOptions) => Promise<SignedAnchor | undefined>
  /** The issuer's anchors, oldest first. */
  history: (issuer: string, options?: AnchorHistoryOptions) => AsyncGenerator<SignedAnchor>
  /** True when the provider still holds the receipt's anchor at the receipt's position (the log was not rolled back). */
  verify: (receipt: AnchorReceipt, options?: AnchorAbortOptions) => Promise<boolean>
  /** Release files or connections; later calls reopen. */
  close: () => Promise<void>
}
