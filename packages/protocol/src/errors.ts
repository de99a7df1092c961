// One error class per refusal. Callers match on `name` (never `instanceof`,
// which breaks across bundles, realms and RPC boundaries); messages say what
// was wrong and what to do about it.

/** Options of errors that name the offending field. */
export interface FieldErrorOptions extends ErrorOptions { field?: string }

/** Input of the wrong shape or size; `field` names the offending part ('prf', 'cav.cpuShare', 'bytes'). */
export class MalformedError extends Error {
  static name = 'MalformedError'
  readonly field: string
  constructor (message = 'malformed input: refuse it and ask the sender for a well-formed one', options?: FieldErrorOptions) {
    super(message, options)
    this.name = 'MalformedError'
    this.field = options?.field ?? 'value'
  }
}

/** A signature that does not verify under the claimed signer's key: the data was forged or altered. */
export class InvalidSignatureError extends Error {
  static name = 'InvalidSignatureError'
  constructor (message = 'signature does not verify: the data was altered or not signed by its claimed issuer; discard it', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidSignatureError'
  }
}

/** A valid token addressed to someone else: only its audience may use it. */
export class WrongAudienceError extends Error {
  static name = 'WrongAudienceError'
  constructor (message = 'token is addressed to another audience: ask its issuer for a token addressed to you', options?: ErrorOptions) {
    super(message, options)
    this.name = 'WrongAudienceError'
  }
}

/** A signed object names a different origin than the one expected (or than its signer). */
export class WrongOriginError extends Error {
  static name = 'WrongOriginError'
  constructor (message = 'manifest belongs to another origin: fetch the manifest of the origin you meant to join', options?: ErrorOptions) {
    super(message, options)
    this.name = 'WrongOriginError'
  }
}

/** A token (or one of its proofs) whose expiry has passed. */
export class TokenExpiredError extends Error {
  static name = 'TokenExpiredError'
  constructor (message = 'token has expired: ask its issuer for a fresh one', options?: ErrorOptions) {
    super(message, options)
    this.name = 'TokenExpiredError'
  }
}

/** A token (or one of its proofs) whose not-before time has not come yet. */
export class TokenNotYetValidError extends Error {
  static name = 'TokenNotYetValidError'
  constructor (message = 'token is not valid yet: wait until its not-before time, or check the clocks', options?: ErrorOptions) {
    super(message, options)
    this.name = 'TokenNotYetValidError'
  }
}

/** A delegation that widens its parent's resource, abilities, caveats or time window. */
export class EscalationError extends Error {
  static name = 'EscalationError'
  constructor (message = 'delegation widens what its proof grants: a delegation may only narrow resource, abilities, caveats and time window', options?: ErrorOptions) {
    super(message, options)
    this.name = 'EscalationError'
  }
}

/** A proof chain that does not link (child.iss !== parent.aud) or whose root issuer is not an accepted authority. */
export class BrokenChainError extends Error {
  static name = 'BrokenChainError'
  constructor (message = 'proof chain does not link to an accepted root authority: present the token with its complete, correct proofs', options?: ErrorOptions) {
    super(message, options)
    this.name = 'BrokenChainError'
  }
}

/** A token (or one of its proofs) that was revoked; `tokenId` is the revoked one. */
export class RevokedError extends Error {
  static name = 'RevokedError'
  readonly tokenId: string
  constructor (message = 'token was revoked: ask its issuer for a new grant', options?: ErrorOptions & { tokenId?: string }) {
    super(message, options)
    this.name = 'RevokedError'
    this.tokenId = options?.tokenId ?? ''
  }
}

/** A revocation signed by someone who is not an issuer anywhere in the revoked token's chain. */
export class UnauthorizedRevocationError extends Error {
  static name = 'UnauthorizedRevocationError'
  constructor (message = 'revocation is not signed by an issuer of the token\'s chain: ignore it', options?: ErrorOptions) {
    super(message, options)
    this.name = 'UnauthorizedRevocationError'
  }
}

/** A valid token that does not grant the requested resource or ability. */
export class MissingAbilityError extends Error {
  static name = 'MissingAbilityError'
  constructor (message = 'token does not grant the requested ability on this resource: ask for a token that does', options?: ErrorOptions) {
    super(message, options)
    this.name = 'MissingAbilityError'
  }
}

/** A policy manifest that breaks the schema; `field` is the path, e.g. 'qos.cpuShare' or 'bundles[0].cid'. */
export class ManifestSchemaError extends Error {
  static name = 'ManifestSchemaError'
  readonly field: string
  constructor (message = 'manifest breaks the schema: fix it and sign it again', options?: FieldErrorOptions) {
    super(message, options)
    this.name = 'ManifestSchemaError'
    this.field = options?.field ?? 'manifest'
  }
}

/** A manifest whose version is not newer than the one already in force. */
export class StaleManifestError extends Error {
  static name = 'StaleManifestError'
  constructor (message = 'manifest version is not newer than the current one: publish it with a higher version', options?: ErrorOptions) {
    super(message, options)
    this.name = 'StaleManifestError'
  }
}

/** The names of every error this package throws, for allow-listing errors that cross an RPC boundary. */
export const PROTOCOL_ERROR_NAMES = [
  'MalformedError',
  'InvalidSignatureError',
  'WrongAudienceError',
  'WrongOriginError',
  'TokenExpiredError',
  'TokenNotYetValidError',
  'EscalationError',
  'BrokenChainError',
  'RevokedError',
  'UnauthorizedRevocationError',
  'MissingAbilityError',
  'ManifestSchemaError',
  'StaleManifestError'
] as const

/** One of the error names in PROTOCOL_ERROR_NAMES. */
export type ProtocolErrorName = typeof PROTOCOL_ERROR_NAMES[number]

/** True when `e` is an error object whose `name` is `name` (works across realms and bundles). */
export function isError (e: unknown, name: string): e is Error {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name
}
