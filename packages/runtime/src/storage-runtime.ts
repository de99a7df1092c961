// Storage on a node or a tab: loads and saves what it holds, runs the storage
// service, and keeps stored data healthy on timers — garbage collection of
// expired, unpinned holdings and orphan blocks; a scrubber that re-verifies
// every block and heals this node's positions from the other holders. The
// blockstore, the state documents and the anchor provider are passed in
// (storage-node.ts builds them on disk; the tab in IndexedDB), so this file
// is browser-safe.
import type { Identity } from '@webfabric/protocol'
import { type AnchorProvider, type AnchorReceipt, type Blockstore, nextAnchor, rootsDigest } from '@webfabric/storage'
import type { CID } from 'multiformats/cid'
import type { CredentialVerifier } from './credentials.ts'
import type { Host } from './host.ts'
import type { MemberView } from './membership-service.ts'
import { RepairDriver } from './storage-repair.ts'
import { type Holding, StorageService } from './storage-service.ts'
import type { StateFiles } from './state-files.ts'

/** Defaults: how often unreferenced data is collected, and how often every block is re-verified. */
export const GC_INTERVAL_MS = 60_000
export const SCRUB_INTERVAL_MS = 60 * 60_000

/** Options of startStorage. */
export interface StorageRuntimeInit {
  host: Host
  identity: Identity
  verifier: CredentialVerifier
  /** where the holdings list and the repair snapshot are kept */
  files: StateFiles
  /** hold data for the fabric (storage role + storage/hold capability), in `store` */
  holdCredential?: Uint8Array
  /** the holder's blockstore, already under the quota (holders only) */
  store?: Blockstore
  /** where commitments to the pinned roots are published (holders; none: not anchored) */
  anchors?: AnchorProvider
  /** act as a client: a storage/get capability, which also grants storage/put when `clientCanPut` */
  clientCredential?: Uint8Array
  clientCanPut?: boolean
  /** quota from the storage lease, bytes */
  quotaBytes: number
  lease: () => { id: string, expiresAt: number } | undefined
  members: () => MemberView[]
  gcMs?: number
  scrubMs?: number
  /** repair timing (defaults: the repair core's) */
  repair?: { graceMs?: number, antiEntropyMs?: number, rebuildTimeoutMs?: number }
  log?: (msg: string) => void
}

/** The state document listing what a holder holds. */
const HOLDINGS = 'holdings'

/** After a pin change, wait this long for more before anchoring the pinned set (ms). */
export const ANCHOR_DEBOUNCE_MS = 500

/** What a scrub found and did. */
export interface ScrubReport { checked: number, corrupt: number, healed: number, unhealed: string[] }

/** Storage running on a node. */
export class StorageRuntime {
  readonly service: StorageService
  readonly store?: Blockstore
  /** the repair core's driver (holders only) */
  repair?: RepairDriver
  private readonly init: StorageRuntimeInit
  private timers: Array<ReturnType<typeof setInterval>> = []
  private scrubbing?: Promise<ScrubReport>
  private anchors?: AnchorProvider
  private anchoring: Promise<unknown> = Promise.resolve()
  private anchorTimer?: ReturnType<typeof setTimeout>
  private anchoredDigest = ''
  /** the receipt of the last anchored commitment to this node's pinned roots */
  lastAnchor?: AnchorReceipt
  /** blocks found corrupt and healed, over the node's life */
  corruptFound = 0
  healed = 0

  private constructor (init: StorageRuntimeInit, service: StorageService, store?: Blockstore) {
    this.init = init
    this.service = service
    this.store = store
  }

  /** Starts storage: the holder side when the node holds data, the client side when it may put/get. */
  static async start (init: StorageRuntimeInit): Promise<StorageRuntime> {
    const store = init.holdCredential != null ? init.store : undefined
    if (init.holdCredential != null && store == null) throw new TypeError('a storage holder needs a blockstore')
    let holdings: Holding[] = []
    let holdingsKnown = true
    if (store != null) {
      try {
        holdings = await init.files.read<Holding[]>(HOLDINGS) ?? []
      } catch (err) {
        // never guess what is held: with the list unreadable, nothing stored is collected
        holdingsKnown = false
        init.log?.(`storage: ${init.files.where(HOLDINGS)} is unreadable (${(err as Error).message}); no block will be collected until it is restored`)
      }
    }
    const service = new StorageService(init.host, {
      verifier: init.verifier,
      clientCredential: init.clientCredential,
      clientCanPut: init.clientCanPut,
      holdCredential: init.holdCredential,
      holdingsKnown,
      store,
      quotaBytes: store != null ? init.quotaBytes : undefined,
      lease: init.lease,
      members: init.members,
      holdings,
      saveHoldings: async h => { await init.files.write(HOLDINGS, h) },
      log: init.log
    })
    const rt = new StorageRuntime(init, service, store)
    // a block that failed its hash on a read is deleted first, so healing sees it missing and restores it
    service.onCorrupt = (root: string, cid: CID) => {
      rt.corruptFound++
      void (async () => {
        await store?.delete(cid).catch(() => {})
        await rt.healRoot(root)
      })().catch(() => {})
    }
    await service.start()
    if (store != null) {
      // WebAnchorProvider: a signed, hash-chained commitment to the pinned roots after every change
      rt.anchors = init.anchors
      service.onPinChange = () => rt.anchorSoon()
      rt.anchorSoon()
      rt.repair = new RepairDriver(rt, {
        self: init.host.peerId.toString(),
        files: init.files,
        members: () => service.storageMembers(),
        ...init.repair,
        log: init.log
      })
      await rt.repair.start()
      await service.collect().catch(err => init.log?.(`storage: collection failed: ${(err as Error).message}`))
      rt.timers.push(setInterval(() => { void service.collect().catch(() => {}) }, init.gcMs ?? GC_INTERVAL_MS))
      rt.timers.push(setInterval(() => { void rt.scrub().catch(() => {}) }, init.scrubMs ?? SCRUB_INTERVAL_MS))
      for (const t of rt.timers) (t as { unref?: () => void }).unref?.()
    }
    return rt
  }

  /** Re-verifies every held block; corrupt ones are deleted and their positions healed from other holders. */
  async scrub (): Promise<ScrubReport> {
    this.scrubbing ??= this.runScrub().finally(() => { this.scrubbing = undefined })
    return await this.scrubbing
  }

  private async runScrub (): Promise<ScrubReport> {
    const store = this.store
    if (store == null) return { checked: 0, corrupt: 0, healed: 0, unhealed: [] }
    let checked = 0
    const bad: CID[] = []
    for await (const finding of store.scrub({ onProgress: p => { checked = p.checked } })) {
      bad.push(finding.cid)
      await store.delete(finding.cid)
    }
    this.corruptFound += bad.length
    if (bad.length > 0) this.init.log?.(`storage: scrub found ${bad.length} corrupt block(s); healing`)
    const report: ScrubReport = { checked, corrupt: bad.length, healed: 0, unhealed: [] }
    // every holding that lost a block (or all, cheaply: heal() only fetches what is missing)
    for (const h of this.service.held()) {
      try {
        report.healed += await this.service.heal(h.root)
      } catch (err) {
        report.unhealed.push(h.root)
        this.init.log?.(`storage: could not heal ${h.root}: ${(err as Error).message}`)
        this.onUnhealable?.(h.root)
      }
    }
    this.healed += report.healed
    return report
  }

  /** Set by the repair driver: a position of ours could not be healed in place. */
  onUnhealable?: (root: string) => void

  private async healRoot (root: string): Promise<void> {
    try {
      this.healed += await this.service.heal(root)
    } catch (err) {
      this.init.log?.(`storage: could not heal ${root}: ${(err as Error).message}`)
      this.onUnhealable?.(root)
    }
  }

  /** Anchor the pinned set shortly (changes within ANCHOR_DEBOUNCE_MS share one commitment). */
  anchorSoon (): void {
    if (this.anchors == null || this.anchorTimer != null) return
    this.anchorTimer = setTimeout(() => {
      this.anchorTimer = undefined
      this.anchorNow().catch(err => this.init.log?.(`storage: could not anchor the pinned roots: ${(err as Error).message}`))
    }, ANCHOR_DEBOUNCE_MS)
    this.anchorTimer.unref?.()
  }

  /**
   * Publish a commitment to the pinned roots now, unless it would repeat the last one. Calls run one
   * after another (each signs the seq after the one before it; two at once would sign the same seq).
   */
  async anchorNow (): Promise<AnchorReceipt | undefined> {
    const run = this.anchoring.then(async () => await this.anchorOnce())
    this.anchoring = run.catch(() => {})
    return await run
  }

  private async anchorOnce (): Promise<AnchorReceipt | undefined> {
    if (this.anchors == null) return undefined
    const roots = this.service.pinnedRoots()
    const digest = (await rootsDigest(roots)).toString()
    if (digest === this.anchoredDigest) return this.lastAnchor
    const latest = await this.anchors.latest(this.init.identity.did)
    const anchor = await nextAnchor(this.init.identity, latest, roots, Date.now())
    this.lastAnchor = await this.anchors.publish(anchor)
    this.anchoredDigest = digest
    return this.lastAnchor
  }

  /** Membership changed: the repair core gets the new view. */
  viewChanged (): void { this.repair?.viewChanged() }

  /** Counters for `webfabric status`. */
  async stats (): Promise<Record<string, number>> {
    const s = this.store != null ? await this.store.stat() : { blocks: 0, bytes: 0 }
    return {
      storageHoldings: this.service.held().length,
      storageBlocks: s.blocks,
      storageBytes: s.bytes,
      storageQuotaBytes: this.store != null ? this.init.quotaBytes : 0,
      storageRefused: this.service.refused,
      storageCorruptFound: this.corruptFound,
      storageHealed: this.healed,
      storageAnchorSeq: this.lastAnchor?.seq ?? 0,
      ...this.repair?.stats()
    }
  }

  async stop (): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    await this.scrubbing?.catch(() => {})
    await this.repair?.stop()
    clearTimeout(this.anchorTimer)
    await this.anchoring
    await this.service.stop()
    await this.anchors?.close()
  }
}
