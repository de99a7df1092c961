// Refusals of the anchor provider, one class per condition, matched by
// `name`. A bad signature is the protocol's InvalidSignatureError and
// malformed input its MalformedError (both from @webfabric/protocol).

/** Options of AnchorChainError. */
export interface AnchorChainErrorOptions extends ErrorOptions {
  /** position in the log of the entry that breaks the chain, when it is a stored one */
  index?: number
}

/**
 * The hash chain is broken: a stored entry was altered, removed or reordered (found when a
 * log is opened), or a published anchor does not link to its issuer's latest one.
 */
export class AnchorChainError extends Error {
  static name = 'AnchorChainError'
  /** position of the offending entry in the log, or -1 for an anchor being published */
  readonly index: number
  constructor (message = 'anchor does not link to the chain: build it on the issuer\'s latest anchor (provider.latest) and publish again', options?: AnchorChainErrorOptions) {
    super(message, options)
    this.name = 'AnchorChainError'
    this.index = options?.index ?? -1
  }
}

/** Options of StaleAnchorError. */
export interface StaleAnchorErrorOptions extends ErrorOptions {
  issuer?: string
  /** seq of the refused anchor */
  seq?: number
  /** seq of the issuer's latest anchor in the log */
  latestSeq?: number
}

/** An anchor whose seq is not above its issuer's latest one: a replay, or an old commitment. */
export class StaleAnchorError extends Error {
  static name = 'StaleAnchorError'
  readonly issuer: string
  readonly seq: number
  readonly latestSeq: number
  constructor (message?: string, options?: StaleAnchorErrorOptions) {
    super(message ?? `anchor seq ${options?.seq ?? '?'} is not above the issuer's latest (${options?.latestSeq ?? '?'}): it is a replay or out of date; read latest() and sign the next seq`, options)
    this.name = 'StaleAnchorError'
    this.issuer = options?.issuer ?? ''
    this.seq = options?.seq ?? -1
    this.latestSeq = options?.latestSeq ?? -1
  }
}

/** The names of every error an anchor provider throws (ours and the protocol's), for allow-listing across RPC. */
export const ANCHOR_ERROR_NAMES = [
  'AnchorChainError',
  'StaleAnchorError',
  'InvalidSignatureError',
  'MalformedError'
] as const
