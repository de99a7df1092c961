// The real driver of the storage repair core (packages/storage/src/repair):
// membership changes become `view` inputs, repair messages ride the storage
// protocol, `rebuild` effects become a fetch-reconstruct-store data path, and
// the core's snapshot is kept beside the holdings. The core decides;
// this file only moves bytes and time.
import { type RepairEffect, RepairCore, type RepairMessage, type RepairSnapshot, type StorageMember, validateRepairMessage } from '@webfabric/storage'
import { CID } from 'multiformats/cid'
import type { StorageRuntime } from './storage-runtime.ts'
import type { StorageService } from './storage-service.ts'
import type { StateFiles } from './state-files.ts'

/** The state document of the repair core's snapshot. */
const SNAPSHOT = 'repair'
/** How long a hand-off waits for its messages to leave (a departing tab should not hang). */
const HANDOFF_MS = 2000

/** Options of the repair driver; the timing options go to the core (defaults in its constants). */
export interface RepairDriverInit {
  self: string
  /** where the core's snapshot is kept (beside the holdings) */
  files: StateFiles
  /** live storage members now */
  members: () => StorageMember[]
  graceMs?: number
  antiEntropyMs?: number
  rebuildTimeoutMs?: number
  log?: (msg: string) => void
}

/** Runs one node's repair core against real streams, timers and disk. */
export class RepairDriver {
  private readonly init: RepairDriverInit
  private readonly rt: StorageRuntime
  private readonly svc: StorageService
  private core!: RepairCore
  private timer?: ReturnType<typeof setTimeout>
  private timerAt = Number.POSITIVE_INFINITY
  private saving: Promise<void> = Promise.resolve()
  private stopped = false
  /** rebuilds this node led that succeeded / failed, and objects reported unrecoverable */
  repaired = 0
  rebuildFailures = 0
  unrecoverable = 0

  constructor (rt: StorageRuntime, init: RepairDriverInit) {
    this.rt = rt
    this.svc = rt.service
    this.init = init
  }

  /** Loads the snapshot, hooks the storage service and starts the core with the current view. */
  async start (): Promise<void> {
    let snapshot: RepairSnapshot | undefined
    try {
      snapshot = await this.init.files.read<RepairSnapshot>(SNAPSHOT)
      this.core = new RepairCore({ self: this.init.self, snapshot, graceMs: this.init.graceMs, antiEntropyMs: this.init.antiEntropyMs, rebuildTimeoutMs: this.init.rebuildTimeoutMs })
    } catch (err) {
      // an unreadable snapshot is rebuilt from the holdings below
      this.init.log?.(`storage: ignoring ${this.init.files.where(SNAPSHOT)}: ${(err as Error).message}`)
      this.core = new RepairCore({ self: this.init.self, graceMs: this.init.graceMs, antiEntropyMs: this.init.antiEntropyMs, rebuildTimeoutMs: this.init.rebuildTimeoutMs })
    }
    const now = Date.now()
    // every holding on disk is known to the core (a crash may have come between the two files)
    for (const h of this.svc.held()) {
      if (!this.core.held(h.root).includes(h.position)) this.apply(this.core.hold(h.record, h.position, now, h.index ?? h.root))
    }
    this.svc.onRepair = (from, msg) => {
      let valid: RepairMessage
      try {
        valid = validateRepairMessage(msg)
      } catch (err) {
        this.init.log?.(`storage: refused a repair message from ${from}: ${(err as Error).message}`)
        return
      }
      this.apply(this.core.message(from, valid, Date.now()))
    }
    this.svc.onHold = async h => {
      this.apply(this.core.hold(h.record, h.position, Date.now(), h.index ?? h.root))
      await this.saving
    }
    this.svc.currentRecord = root => this.core.record(root)
    this.rt.onUnhealable = root => {
      const positions = this.core.held(root)
      for (const p of positions) this.apply(this.core.lost(root, Date.now(), p))
    }
    this.viewChanged()
  }

  /** Membership changed: hand the core the new set of live storage members. */
  viewChanged (): void {
    if (this.stopped || this.core == null) return
    this.guarded(() => this.core.view(this.init.members(), Date.now()))
  }

  /** Runs a core input and applies its effects; a refusal is logged, never thrown into a timer or event. */
  private guarded (input: () => RepairEffect[]): void {
    try {
      this.apply(input())
    } catch (err) {
      this.init.log?.(`storage: the repair core refused an input: ${(err as Error).message}`)
    }
  }

  /** Health of an object as this node's core sees it. */
  health (root: string): ReturnType<RepairCore['health']> { return this.core?.health(root) }

  /** Counters for `webfabric status`. */
  stats (): Record<string, number> {
    const s = this.core?.stats() ?? { objects: 0, shares: 0, rebuilding: 0, waiting: 0 }
    return { repairObjects: s.objects, repairRebuilding: s.rebuilding, repairWaiting: s.waiting, repairDone: this.repaired, repairFailed: this.rebuildFailures, repairUnrecoverable: this.unrecoverable }
  }

  /**
   * Hands this node's shares off before it leaves for good (Revoke, the
   * lease's end): tells every co-holder it no longer holds them, so their
   * leaders rebuild the positions elsewhere now rather than after the grace.
   * Waits for the messages to leave, at most `timeoutMs`; from then on this
   * node takes no stores. The caller stops the node (and deletes the data).
   */
  async handOff (timeoutMs = HANDOFF_MS): Promise<void> {
    if (this.stopped || this.core == null) return
    // a leader would restore a share in place on the holder that lacks it
    this.svc.leaving = true
    const sends: Promise<void>[] = []
    for (const e of this.core.handOff(Date.now())) {
      if (e.type === 'send') sends.push(this.svc.sendRepair(e.to, e.msg).catch(() => {}))
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([Promise.all(sends), new Promise<void>(resolve => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.saving
  }

  private apply (effects: RepairEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          void this.svc.sendRepair(e.to, e.msg).catch(() => {}) // loss is repaired by anti-entropy
          break
        case 'rebuild':
          this.rebuild(e).catch(err => this.init.log?.(`storage: rebuild of ${e.root} position ${e.position}: ${(err as Error).message}`))
          break
        case 'drop': {
          // only the position named: a node may briefly be listed at two positions by two leaders
          const h = this.svc.held().find(x => x.root === e.root)
          if (h == null || h.position !== e.position) break
          this.init.log?.(`storage: ${e.root} moved away from this node; dropping position ${e.position}`)
          void this.svc.release(e.root).catch(err => this.init.log?.(`storage: could not drop ${e.root}: ${(err as Error).message}`))
          break
        }
        case 'timer':
          this.schedule(e.at)
          break
        case 'persist': {
          const snap = this.core.snapshot()
          this.saving = this.saving.then(async () => { await this.init.files.write(SNAPSHOT, snap) }).catch(err => this.init.log?.(`storage: could not save ${this.init.files.where(SNAPSHOT)}: ${(err as Error).message}`))
          break
        }
        case 'repaired':
          this.repaired++
          this.init.log?.(`storage: repaired ${e.root}: position ${e.position} now on ${e.target} (was ${e.replaced}), record v${e.version}`)
          break
        case 'rebuild-failed':
          this.rebuildFailures++
          this.init.log?.(`storage: rebuilding position ${e.position} of ${e.root} on ${e.target} ${e.reason === 'timeout' ? 'timed out' : 'failed'}; trying another`)
          break
        case 'unrecoverable':
          this.unrecoverable++
          this.init.log?.(`storage: ${e.root} has ${e.live} live position(s), ${e.need} needed: unreadable unless holders return`)
          break
        case 'refused':
          this.init.log?.(`storage: refused a repair message from ${e.from}: ${e.reason}`)
          break
      }
    }
  }

  private schedule (at: number): void {
    if (this.stopped || at >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timerAt = Number.POSITIVE_INFINITY
      if (!this.stopped) this.guarded(() => this.core.tick(Date.now()))
    }, Math.max(0, at - Date.now()))
    this.timer.unref?.()
  }

  /** The data path of a rebuild: fetch ≥ need shares, reconstruct the position, store it on the target. */
  private async rebuild (e: Extract<RepairEffect, { type: 'rebuild' }>): Promise<void> {
    let ok = false
    try {
      const rootCid = CID.parse(e.root)
      const local = await this.svc.localRootBlock(e.root)
      const { root, rootBytes } = local ?? await this.svc.rootFrom(rootCid, e.sources.map(s => s.peer))
      const mine = this.svc.held().find(h => h.root === e.root)
      // the new holder keeps the object's retention and who may unpin it
      const session = await this.svc.openStore(e.target, e.record.redundancy, e.position, mine?.pinned ?? true, root.size, mine?.writer)
      const budget = AbortSignal.timeout(Math.max(1000, e.deadline - Date.now()))
      try {
        await this.svc.rebuildInto(session, rootCid, root, e.position, e.sources, budget)
        await session.end(rootBytes, e.record)
        ok = true
      } catch (err) {
        session.abort(err as Error)
        throw err
      }
    } catch (err) {
      this.init.log?.(`storage: rebuild of ${e.root} position ${e.position} on ${e.target}: ${(err as Error).message}`)
    }
    if (!this.stopped) this.guarded(() => this.core.rebuilt({ root: e.root, position: e.position, target: e.target, ok }, Date.now()))
  }
}
