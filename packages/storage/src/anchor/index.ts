// Anchored persistence (the whitepaper's WebAnchorProvider): signed,
// hash-chained commitments to the set of pinned roots, published to an
// anchor provider. Browser-safe; the Node file log (LocalAnchorLog) is in
// ./local-log.ts, which browsers never import.
export * from './chain.ts'
export * from './commitment.ts'
export * from './errors.ts'
export * from './interface.ts'
export * from './memory.ts'
