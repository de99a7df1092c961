// What a page sees of its tab node: the lease the person chose, the receipts
// of what ran, meters against the lease's limits, and how a revocation went.
// Browser-safe types only; the participant page and tests import them.
import type { ReceiptBody } from '@webfabric/compute'

/** What the person chose on the consent form, within the manifest's bounds. */
export interface TabLeaseChoice {
  /** share of the device's CPU lent to the fabric, (0, 1], at most the manifest's qos.cpuShare */
  cpuShare: number
  /** memory one execution may use, MiB, at most the manifest's qos.memoryMiB */
  memoryMiB: number
  /** storage lent, MiB, at most the manifest's qos.storageMiB (0: none) */
  storageMiB: number
  /** how long the lease lasts, ms, at most the manifest's qos.leaseMaxMs */
  durationMs: number
}

/** One receipt as the tab lists it: the body the tab signed, its CID, and the coordinator's verdict once it came. */
export interface TabReceipt extends ReceiptBody {
  cid: string
  /** true / false once countersigned; undefined while no acceptance arrived */
  accepted?: boolean
  /** when the coordinator signed its verdict */
  acceptedAt?: number
}

/** Live meters of a tab against its lease. */
export interface TabMeters {
  cpu: {
    /** the lease's CPU share of the device */
    share: number
    /** fraction of the device's CPU the tab's domains used over the last few seconds (0..1) */
    used: number
    /** ms of execution since the lease began */
    busyMs: number
  }
  memory: { limitMiB: number, usedMiB: number }
  /** what the tab holds for the fabric (limit 0: it lends none) */
  storage: { limitMiB: number, usedMiB: number, blocks: number }
  traffic: { inBytes: number, outBytes: number, limitKiBps: number }
  /** executions finished, running now, and refused */
  runs: number
  running: number
  refused: number
}

/** The lease in force, as the page shows it. */
export interface TabLeaseView {
  id: string
  /** the storage lease granted beside it, when the tab lends storage */
  storageLeaseId?: string
  choice: TabLeaseChoice
  grantedAt: number
  expiresAt: number
  revoked: boolean
}

/** What revoke() reports: when Revoke was pressed and when the last fuel slice ended. */
export interface RevokeReport {
  leaseId: string
  /** performance.now() when revoke() was called */
  revokedAt: number
  /** performance.now() when every domain of the tab was idle again */
  stoppedAt: number
  /** executions that were running and were stopped */
  stoppedRuns: number
  /** the most slice boundaries any domain passed after the abort was set (it stops at the first: at most 1) */
  slicesAfter: number
  /** whether the signed revocations were published to at least one peer of the fabric */
  gossiped: boolean
  /** what the tab had stored for the fabric and deleted */
  released: { blocks: number, bytes: number }
}

/** Why a tab stopped. */
export type TabStopReason = 'revoked' | 'expired' | 'left'
