// Blockstores: where a node keeps the blocks (ciphertext chunks, erasure
// shards) it holds for the fabric, with verification on read, a scrubber and
// a byte quota. Browser-safe; the Node store (FsBlockstore) is in ./fs.ts,
// which browsers never import.
export { type BlockId, blockId, cidOfKey } from './block.ts'
export * from './errors.ts'
export * from './idb.ts'
export * from './interface.ts'
export * from './interop.ts'
export * from './memory.ts'
export * from './quota.ts'
export * from './scrub.ts'
