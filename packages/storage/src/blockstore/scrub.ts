// The scrubber: re-read and re-hash every held block, one at a time, and
// report the bad ones. Reads and hashes are asynchronous (WebCrypto), so a
// scrub of a large store leaves the event loop free between blocks; it holds
// one block in memory at a time. What to do about a bad block (delete it,
// fetch a good copy) is the caller's decision.
import type { CID } from 'multiformats/cid'
import type { GetOptions, ScrubFinding, ScrubOptions } from './interface.ts'

/** What scrub needs of a store: its CIDs and a verifying get. */
export interface Scrubbable {
  cids: (options?: { signal?: AbortSignal }) => AsyncGenerator<CID>
  get: (cid: CID, options?: GetOptions) => Promise<Uint8Array>
}

/**
 * Verify every block of `store`, yielding a finding for each that does not hash to its CID
 * or cannot be read. Blocks deleted while the scrub runs are skipped, not reported.
 */
export async function * scrubBlocks (store: Scrubbable, options: ScrubOptions = {}): AsyncGenerator<ScrubFinding> {
  let checked = 0
  let corrupt = 0
  for await (const cid of store.cids(options)) {
    options.signal?.throwIfAborted()
    let finding: ScrubFinding | undefined
    try {
      await store.get(cid, { signal: options.signal, verify: true })
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      if ((err as Error)?.name !== 'BlockNotFoundError') finding = { cid, error: err as Error }
    }
    checked++
    if (finding != null) corrupt++
    options.onProgress?.({ type: 'blockstore:scrub:block', checked, corrupt })
    if (finding != null) yield finding
  }
}
