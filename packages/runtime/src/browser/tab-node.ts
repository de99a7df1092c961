// A browser tab as a fabric participant (WebFabricRuntime in the browser): it
// verifies the origin's manifest, takes its identity for (origin, epoch) from
// a keyring the page keeps, joins through the rendezvous over WebSockets, runs
// the same membership core and capability-guarded pub-sub as a Node node,
// grants the origin the compute lease the person chose — signed here, with
// WebCrypto — and serves compute in Web Worker sandbox domains under it, and,
// when the person lends storage, holds blocks for the fabric in IndexedDB
// under a storage lease. The page lists its receipts and meters; revoke()
// stops every execution at its next fuel slice, gossips the revocations,
// leaves, and deletes what the tab stored.
import { WebSandboxPool } from '@webfabric/compute/browser'
import {
  type Capability,
  type Identity,
  IDENTITY_ROTATION_MS,
  Keyring,
  type PolicyManifest,
  type Revocation,
  RevocationSet,
  type SignedManifest,
  epochAt,
  grantLease,
  revoke,
  verifyManifest
} from '@webfabric/protocol'
import { TASK_OUTPUT_LIMIT_BYTES } from '../compute-wire.ts'
import { taskStorage } from '../compute-storage.ts'
import { reportLoad } from '../load-report.ts'
import { ComputeWorker, NO_MODULE_STORE } from '../compute-worker.ts'
import { topicPrefix } from '../constants.ts'
import { CredentialVerifier } from '../credentials.ts'
import type { Host } from '../host.ts'
import { MEMBERSHIP_NEED, type MemberView, MembershipService } from '../membership-service.ts'
import { STORAGE_HOLD_NEED } from '../storage-wire.ts'
import { libp2pKeyOf } from '../peer-identity.ts'
import { PubSubService } from '../pubsub-service.ts'
import { RevocationFeed } from '../revocation-feed.ts'
import { createTabHost } from './host.ts'
import { checkLeaseChoice, defaultLeaseChoice } from './lease-choice.ts'
import { TabReceiptLog, idbReceiptArchive } from './receipts.ts'
import { type StorageRelease, TabStorage } from './tab-storage.ts'
import type { RevokeReport, TabLeaseChoice, TabLeaseView, TabMeters, TabReceipt, TabStopReason } from './types.ts'

/** Options of a tab node. */
export interface TabNodeInit {
  manifest: SignedManifest
  /** the origin's grants to this tab (encoded capabilities): membership, storage/hold, topics, … */
  credentials: Uint8Array[]
  /** the page's keyring secret (kept by the page, e.g. in sessionStorage); a fresh one when absent */
  keyringSecret?: Uint8Array
  /** rendezvous multiaddrs (…/ws/p2p/<id>); default: the manifest's */
  bootstrap?: string[]
  roles?: string[]
  membership?: { intervalMs?: number, ttlMs?: number }
  /** development and tests only: allow ws:// and private addresses */
  allowInsecureDials?: boolean
  /**
   * Compute in Web Workers: the URL of the bundled `@webfabric/compute/worker-web` script. Absent:
   * the tab takes no work (it only joins membership and pub-sub).
   */
  compute?: { workerUrl: string | URL, slots?: number, sliceFuel?: number, watchdogMs?: number }
  /** the lease the person chose (default: what the manifest asks for, an hour at most) */
  lease?: TabLeaseChoice
  /** where receipts outlive the tab: an IndexedDB database (default RECEIPT_ARCHIVE); false: memory only */
  receiptArchive?: string | false
  /** storage timing (tests): the repair core's grace and anti-entropy periods */
  storage?: { repair?: { graceMs?: number, antiEntropyMs?: number } }
  log?: (msg: string) => void
}

/**
 * Fuel per slice in a tab: a fifth of the VM's default, so a slice — how long Revoke or a pause can
 * wait — lasts a few milliseconds to a few tens on a laptop.
 */
export const TAB_SLICE_FUEL = 2_000_000
/**
 * Longest Revoke waits for the domains to stop at their slice boundaries (ms) before it terminates their
 * workers instead: a slice is milliseconds, so this is only ever reached by a fault — and Revoke must
 * stop the work whatever happens.
 */
export const REVOKE_STOP_WAIT_MS = 2000

/** Window over which the CPU meter averages, ms. */
const CPU_WINDOW_MS = 3000

/** A browser tab taking part in an origin's fabric. Events: 'receipt', 'receipt-accepted', 'stopped'. */
export class TabNode extends EventTarget {
  readonly init: TabNodeInit
  readonly revocations = new RevocationSet()
  host!: Host
  identity!: Identity
  manifest!: PolicyManifest
  keyring!: Keyring
  membership!: MembershipService
  pubsub!: PubSubService
  worker?: ComputeWorker
  /** set while the tab holds data for the fabric (it lends storage and was granted storage/hold) */
  storage?: TabStorage
  private taskStorageView?: ReturnType<typeof taskStorage>
  private pool?: WebSandboxPool
  private receiptLog!: TabReceiptLog
  private feed!: RevocationFeed
  private verifier!: CredentialVerifier
  private leaseToken?: Capability
  private storageLease?: Capability
  private leaseView?: TabLeaseView
  private leaseTimer?: ReturnType<typeof setTimeout>
  private cpuSamples: Array<{ at: number, cpuMs: number }> = []
  private running = false
  private stopping?: Promise<void>
  private stopLoadReport?: () => void
  private viewQueued = false
  private released?: StorageRelease

  constructor (init: TabNodeInit) {
    super()
    this.init = init
  }

  get peerId (): string { return this.host.peerId.toString() }
  get did (): string { return this.identity.did }
  get isRunning (): boolean { return this.running }

  /** Verifies the manifest (refusing a bad signature by name) and the lease choice, then joins the fabric and grants the lease. */
  async start (): Promise<void> {
    this.manifest = await verifyManifest(this.init.manifest)
    const choice = checkLeaseChoice(this.manifest, this.init.lease ?? defaultLeaseChoice(this.manifest))
    this.keyring = this.init.keyringSecret != null ? await Keyring.fromSecret(this.init.keyringSecret) : await Keyring.generate()
    this.identity = await this.keyring.identityFor(this.manifest.origin, epochAt(Date.now(), IDENTITY_ROTATION_MS))
    this.host = await createTabHost({ privateKey: await libp2pKeyOf(this.identity), allowInsecureDials: this.init.allowInsecureDials })
    this.verifier = new CredentialVerifier({ origin: this.manifest.origin, revocations: this.revocations })
    const credential = await this.credentialFor(MEMBERSHIP_NEED)
    const hold = choice.storageMiB > 0 ? await this.credentialFor(STORAGE_HOLD_NEED) : undefined
    if (choice.storageMiB > 0 && hold == null) (this.init.log ?? (() => {}))('this tab was granted no storage/hold capability: it lends no storage')
    if (credential == null) throw new Error(`this tab (${this.identity.did}) holds no membership capability from origin ${this.manifest.origin}`)
    await this.host.start()
    const log = this.init.log ?? (() => {})
    const cores = globalThis.navigator?.hardwareConcurrency ?? 1
    const compute = this.init.compute
    const slots = compute == null ? 0 : (compute.slots ?? Math.max(1, Math.round(cores * choice.cpuShare)))
    // the storage role is claimed once storage runs (below): a putter that saw it sooner would find no handler
    const roles = this.init.roles ?? (slots > 0 ? ['compute'] : [])
    const capacity = { cpus: cores, slots, memoryMiB: choice.memoryMiB }
    this.membership = new MembershipService(this.host, {
      identity: this.identity,
      credential,
      verifier: this.verifier,
      info: { roles, capacity, load: { cpu: 0 }, addrs: [] },
      bootstrap: this.init.bootstrap ?? this.manifest.rendezvous,
      intervalMs: this.init.membership?.intervalMs,
      ttlMs: this.init.membership?.ttlMs,
      log
    })
    const prefix = await topicPrefix(this.manifest.origin)
    this.pubsub = new PubSubService(this.host, { origin: this.manifest.origin, prefix, verifier: this.verifier, grants: this.init.credentials, log })
    this.pubsub.start()
    this.feed = new RevocationFeed(this.host, { topic: `${prefix}revocations`, verifier: this.verifier, credential, accept: async rev => this.acceptRevocation(rev) })
    this.feed.start()

    // the lease: the person's grant to the origin, signed in this tab
    const now = Date.now()
    const q = this.manifest.qos
    const leaseOf = async (kind: 'compute' | 'storage'): Promise<Capability> => await grantLease(this.identity, {
      origin: this.manifest.origin,
      kind,
      qos: { cpuShare: choice.cpuShare, memoryMiB: choice.memoryMiB, storageMiB: choice.storageMiB, bandwidthKiBps: q.bandwidthKiBps },
      durationMs: choice.durationMs,
      now
    })
    this.leaseToken = await leaseOf('compute')
    this.leaseView = { id: this.leaseToken.id, choice, grantedAt: now, expiresAt: this.leaseToken.payload.exp, revoked: false }
    if (hold != null) {
      this.storageLease = await leaseOf('storage')
      this.leaseView.storageLeaseId = this.storageLease.id
    }
    const archive = this.init.receiptArchive !== false && globalThis.indexedDB != null ? idbReceiptArchive(this.init.receiptArchive, { log }) : undefined
    this.receiptLog = new TabReceiptLog({
      receipt: r => this.dispatchEvent(new CustomEvent<TabReceipt>('receipt', { detail: r })),
      accepted: r => this.dispatchEvent(new CustomEvent<TabReceipt>('receipt-accepted', { detail: r }))
    }, archive)
    // what earlier tabs of this browser ran stays listed (an unreadable archive only costs the history)
    await this.receiptLog.loadArchived().catch(err => log(`earlier receipts could not be read: ${(err as Error).message}`))
    if (compute != null && slots > 0) {
      // the lease's share of the whole device, spread over the domains (as on Node)
      const share = Math.min(1, cores * choice.cpuShare / slots)
      this.pool = new WebSandboxPool({ size: slots, cpuShare: share, workerUrl: compute.workerUrl, sliceFuel: compute.sliceFuel ?? TAB_SLICE_FUEL, watchdogMs: compute.watchdogMs, memoryLimitBytes: choice.memoryMiB * 2 ** 20, outputLimitBytes: TASK_OUTPUT_LIMIT_BYTES })
      this.worker = new ComputeWorker(this.host, {
        identity: this.identity,
        origin: this.manifest.origin,
        verifier: this.verifier,
        pool: this.pool,
        receipts: this.receiptLog,
        modules: NO_MODULE_STORE,
        maxMemoryBytes: choice.memoryMiB * 2 ** 20,
        lease: () => this.activeLease(),
        // a tab that holds storage reads large inputs through it (storage/hold grants reading); it writes nothing
        storage: () => this.taskStorage(),
        log
      })
      await this.worker.start()
      this.stopLoadReport = reportLoad(this.membership, this.pool)
    }
    this.running = true
    this.leaseTimer = setTimeout(() => { void this.stop('expired') }, Math.min(choice.durationMs, 2 ** 31 - 1))
    // other tabs reach this one over WebRTC, signalled through the relay reservation, once it is made
    this.host.addEventListener('self:peer:update', this.onAddresses)
    await this.membership.start()
    this.onAddresses()
    if (hold != null) {
      // a tab that cannot hold what it offered does not stay half-started
      this.storage = await TabStorage.start({
        host: this.host,
        identity: this.identity,
        verifier: this.verifier,
        holdCredential: hold,
        quotaBytes: choice.storageMiB * 2 ** 20,
        lease: () => this.activeLease(this.storageLease),
        members: () => this.members(),
        repair: this.init.storage?.repair,
        log
      }).catch(async (err: unknown) => { await this.stop('left'); throw err })
      for (const ev of ['join', 'update', 'leave']) this.membership.addEventListener(ev, this.onView)
      this.membership.update({ roles: [...new Set([...roles, 'storage'])], capacity: { ...capacity, storageMiB: choice.storageMiB } })
    }
  }

  /** Membership changed: the storage repair core gets the new view (once per burst of changes). */
  private readonly onView = (): void => {
    if (this.viewQueued) return
    this.viewQueued = true
    queueMicrotask(() => { this.viewQueued = false; if (this.running) this.storage?.runtime.viewChanged() })
  }

  /** The first of the origin's grants to this tab that meets `need`. */
  private async credentialFor (need: { resource: string, ability: string }): Promise<Uint8Array | undefined> {
    for (const bytes of this.init.credentials) {
      try {
        await this.verifier.check(this.host.peerId.toString(), bytes, need)
        return bytes
      } catch {}
    }
    return undefined
  }

  /** Advertise this tab's WebRTC addresses in its heartbeats (Node peers use the connections the tab opened). */
  private readonly onAddresses = (): void => {
    if (!this.running) return
    const addrs = this.host.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/webrtc/'))
    this.membership.update({ addrs: addrs.slice(0, 8) })
  }

  /** Compute's view of the storage this tab holds (none when it lends none). */
  private taskStorage (): ReturnType<typeof taskStorage> | undefined {
    if (this.storage == null) return undefined
    this.taskStorageView ??= taskStorage(this.storage.runtime.service, false)
    return this.taskStorageView
  }

  /** The compute lease (or `token`, the storage lease) while it is in force. */
  private activeLease (token = this.leaseToken): { id: string, expiresAt: number } | undefined {
    const v = this.leaseView
    if (!this.running || v == null || token == null || v.revoked || v.expiresAt <= Date.now()) return undefined
    return { id: token.id, expiresAt: token.payload.exp }
  }

  private acceptRevocation (rev: Revocation): boolean {
    if (!this.revocations.add(rev)) return false
    this.verifier.clear()
    return true
  }

  /** The membership view as this tab sees it. */
  members (): MemberView[] { return this.running ? this.membership.view() : [] }

  /** The lease in force (or last in force). */
  lease (): TabLeaseView {
    if (this.leaseView == null) throw new Error('the tab has not started')
    return { ...this.leaseView, choice: { ...this.leaseView.choice } }
  }

  /** The receipts of everything this tab — and the tabs of this browser before it — ran, oldest first. */
  receipts (): TabReceipt[] { return this.receiptLog?.list() ?? [] }

  /**
   * Resolves once every receipt and verdict so far is in this browser's archive (it writes them in
   * batches, within RECEIPT_ARCHIVE_BATCH_MS of their coming; a tab that starts lists what is there).
   */
  async archiveReceipts (): Promise<void> { await this.receiptLog?.flush() }

  /** Meters against the lease's limits. CPU used is averaged over the last few seconds. */
  meters (): TabMeters {
    const choice = this.leaseView?.choice
    const domains = this.pool?.domains ?? []
    const cpuMs = domains.reduce((s, d) => s + d.busyMs - d.meters.sleptMs, 0)
    const now = performance.now()
    this.cpuSamples.push({ at: now, cpuMs })
    while (this.cpuSamples.length > 2 && now - this.cpuSamples[1].at >= CPU_WINDOW_MS) this.cpuSamples.shift()
    const first = this.cpuSamples[0]
    const cores = globalThis.navigator?.hardwareConcurrency ?? 1
    const used = now - first.at > 0 ? Math.max(0, Math.min(1, (cpuMs - first.cpuMs) / (now - first.at) / cores)) : 0
    const running = domains.filter(d => d.busy).length
    return {
      cpu: { share: choice?.cpuShare ?? 0, used, busyMs: Math.round(cpuMs) },
      // what running executions may use: each is capped at the lease's memory per task
      memory: { limitMiB: choice?.memoryMiB ?? 0, usedMiB: running * (choice?.memoryMiB ?? 0) },
      storage: { limitMiB: this.storage != null ? choice?.storageMiB ?? 0 : 0, usedMiB: (this.storage?.used().bytes ?? 0) / 2 ** 20, blocks: this.storage?.used().blocks ?? 0 },
      traffic: { inBytes: this.worker?.bytesIn ?? 0, outBytes: this.worker?.bytesOut ?? 0, limitKiBps: this.manifest?.qos.bandwidthKiBps ?? 0 },
      runs: this.worker?.runs ?? 0,
      running,
      refused: this.worker?.refused ?? 0
    }
  }

  /**
   * Revoke the lease: every execution stops at its next fuel slice (its coordinator is told and
   * reassigns it), the revocations are gossiped to the fabric, the tab leaves, and what it stored
   * is deleted (the fabric repairs those positions on the holders that remain).
   */
  async revoke (): Promise<RevokeReport> {
    if (this.leaseView == null || this.leaseToken == null) throw new Error('the tab has not started')
    const revokedAt = performance.now()
    this.leaseView.revoked = true
    const domains = this.pool?.domains ?? []
    const stoppedRuns = domains.filter(d => d.busy).length
    this.worker?.stopWork()
    // counted from the moment the abort is set (microseconds after Revoke): the slice each domain is
    // in ends at its boundary, so none may begin another
    const slicesBefore = domains.map(d => d.meters.slices)
    let waited: ReturnType<typeof setTimeout> | undefined
    const idle = await Promise.race([
      (this.worker?.whenIdle() ?? Promise.resolve()).then(() => true),
      new Promise<false>(resolve => { waited = setTimeout(() => resolve(false), REVOKE_STOP_WAIT_MS) })
    ])
    clearTimeout(waited)
    if (!idle) {
      // a run did not stop at its slice: end the workers themselves (their runs fail, and are reassigned)
      this.init.log?.(`Revoke: runs still in progress after ${REVOKE_STOP_WAIT_MS} ms; terminating the sandbox workers`)
      await this.pool?.close()
    }
    const stoppedAt = performance.now()
    const slicesAfter = Math.max(0, ...domains.map((d, i) => d.meters.slices - slicesBefore[i]))
    let gossiped = false
    try {
      gossiped = true
      for (const token of [this.leaseToken, this.storageLease]) {
        if (token == null) continue
        const rev = await revoke(this.identity, token, Date.now())
        if (await this.feed.publish(rev) === 0) gossiped = false
      }
    } catch (err) {
      this.init.log?.(`the revocation could not be gossiped: ${(err as Error).message}`)
    }
    await this.stop('revoked')
    return { leaseId: this.leaseView.id, revokedAt, stoppedAt, stoppedRuns, slicesAfter, gossiped, released: this.released ?? { blocks: 0, bytes: 0 } }
  }

  /**
   * Leaves the fabric (a departure the others see at once) and stops. Revoked or expired, the lease
   * no longer covers what the tab stored, and it is deleted; left, it is kept for a reload of this tab.
   */
  async stop (reason: TabStopReason = 'left'): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.running) return
      this.running = false
      clearTimeout(this.leaseTimer)
      this.stopLoadReport?.()
      this.host.removeEventListener('self:peer:update', this.onAddresses)
      await this.worker?.stop()
      for (const ev of ['join', 'update', 'leave']) this.membership.removeEventListener(ev, this.onView)
      try {
        if (reason === 'left') await this.storage?.stop()
        else this.released = await this.storage?.release()
      } catch (err) {
        this.init.log?.(`storage did not stop cleanly: ${(err as Error).message}`)
      }
      await this.membership.stop()
      this.feed.stop()
      this.pubsub.stop()
      await this.host.stop()
      await this.pool?.close()
      this.receiptLog.close()
      this.dispatchEvent(new CustomEvent('stopped', { detail: { reason } }))
    })()
    await this.stopping
  }
}
