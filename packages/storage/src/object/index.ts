// Objects: chunking, encryption, the root DAG node and read capabilities.
export { type Block, type BlockBytes, blockCid, blockOf, joinBlock, verifyBlock, verifyBlockJoined } from './block.ts'
export { formatReadCap, KEY_BYTES, parseReadCap, parseRoot, type ReadCapability } from './capability.ts'
export { decryptChunk, decryptChunkPieces, encryptChunk, importChunkKey, keyCheckOf, newObjectKey } from './crypto.ts'
export { CorruptObjectError, MalformedCapabilityError, MalformedRootError, StorageOptionsError, TamperedBlockError, TooFewSharesError, WrongKeyError } from './errors.ts'
export { ObjectReader } from './reader.ts'
export {
  blocksOfPosition, DEFAULT_CHUNK_SIZE, decodeRoot, encodeRoot, formatRedundancy, MAX_CHUNK_SIZE, MAX_POSITIONS, MAX_REPLICAS, MAX_ROOT_BYTES,
  MIN_CHUNK_SIZE, needOf, type ObjectRoot, positionsOf, type Redundancy, type RootChunk, shareBytes, validateRedundancy
} from './root.ts'
export { type ChunkBlocks, ObjectWriter, type ObjectWriterInit, type WrittenObject } from './writer.ts'
