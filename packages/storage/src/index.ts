// @webfabric/storage: the encrypted content-addressed store (WebCASStore,
// Wetware's blob service) and anchored persistence (WebAnchorProvider).
// Browser-safe; the Node blockstore is `@webfabric/storage/fs`, the Node
// anchor log `@webfabric/storage/local-log`.
export * from './object/index.ts'
export * from './erasure/index.ts'
export * from './blockstore/index.ts'
export * from './anchor/index.ts'
export * from './placement.ts'
export * from './repair/index.ts'
