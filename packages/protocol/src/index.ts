// @webfabric/protocol: the fabric's security core — deterministic encoding,
// Ed25519 identities, capability and lease tokens, revocations, and the
// signed policy manifest. Pure and browser-safe: WebCrypto, @ipld/dag-cbor
// and multiformats only, no I/O.
export * from './capability.ts'
export * from './encoding.ts'
export * from './errors.ts'
export * from './identity.ts'
export * from './lease.ts'
export * from './manifest.ts'
export * from './prng.ts'
