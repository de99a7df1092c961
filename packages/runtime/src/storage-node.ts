// Storage on a Node node: the blockstore is a directory of fsynced block files
// under the storage lease's quota, the holdings list and the repair snapshot
// are JSON files beside it, and the pinned roots are anchored to a local
// append-only log — all under `<dataDir>/storage`.
import { join } from 'node:path'
import { QuotaBlockstore } from '@webfabric/storage'
import { FsBlockstore } from '@webfabric/storage/fs'
import { LocalAnchorLog } from '@webfabric/storage/local-log'
import { dirStateFiles } from './datadir.ts'
import { StorageRuntime, type StorageRuntimeInit } from './storage-runtime.ts'

/** Options of startNodeStorage: the runtime's, with a data directory in place of the stores. */
export interface NodeStorageInit extends Omit<StorageRuntimeInit, 'files' | 'store' | 'anchors'> {
  dataDir: string
}

/** Start storage on a Node node, its state under `<dataDir>/storage`. */
export async function startNodeStorage (init: NodeStorageInit): Promise<StorageRuntime> {
  const dir = join(init.dataDir, 'storage')
  if (init.holdCredential == null) return await StorageRuntime.start({ ...init, files: dirStateFiles(dir) })
  // blocks are hashed as they arrive (their CID is computed from them), so a put need not re-verify
  const store = new QuotaBlockstore(new FsBlockstore(dir, { verifyOnPut: false, log: init.log }), { limitBytes: init.quotaBytes })
  const anchors = new LocalAnchorLog(join(dir, 'anchors.log'), { log: init.log })
  await anchors.open()
  return await StorageRuntime.start({ ...init, files: dirStateFiles(dir), store, anchors })
}
