// A tab's record of what ran on it: the receipts its worker signed and the
// coordinators' verdicts on them, kept in memory for the page to list (the
// newest MAX_TAB_RECEIPTS) and announced as they come. Browser-safe.
import { type Acceptance, type Receipt, receiptCid } from '@webfabric/compute'
import type { ReceiptSink } from '../compute-worker.ts'
import type { TabReceipt } from './types.ts'

/**
 * Applies a verified acceptance to receipts kept by CID: each receipt it names is marked accepted or
 * rejected, but only when the acceptance's signer is the receipt's own coordinator. Returns how many.
 */
export function markVerdicts<E extends { coordinator: string, accepted?: boolean, acceptedAt?: number }> (entries: Map<string, E>, acceptance: Acceptance, marked?: (e: E) => void): number {
  const body = acceptance.body
  let n = 0
  for (const [list, verdict] of [[body.accepted, true], [body.rejected, false]] as const) {
    for (const cid of list) {
      const e = entries.get(cid)
      if (e == null || e.coordinator !== body.coordinator) continue
      e.accepted = verdict
      e.acceptedAt = body.at
      n++
      marked?.(e)
    }
  }
  return n
}

/** Receipts a tab keeps for its page. */
export const MAX_TAB_RECEIPTS = 10_000

/** In-memory receipt log of a tab. */
export class TabReceiptLog implements ReceiptSink {
  private readonly entries = new Map<string, TabReceipt>()
  private readonly on: { receipt: (r: TabReceipt) => void, accepted: (r: TabReceipt) => void }

  constructor (on: { receipt: (r: TabReceipt) => void, accepted: (r: TabReceipt) => void }) {
    this.on = on
  }

  async append (receipt: Receipt): Promise<string> {
    const cid = await receiptCid(receipt)
    const entry: TabReceipt = { ...receipt.body, cid }
    this.entries.set(cid, entry)
    if (this.entries.size > MAX_TAB_RECEIPTS) this.entries.delete(this.entries.keys().next().value as string)
    this.on.receipt(entry)
    return cid
  }

  /** Marks our receipts that the (already verified) acceptance names, when it comes from their coordinator. */
  async accept (acceptance: Acceptance): Promise<number> {
    return markVerdicts(this.entries, acceptance, e => this.on.accepted(e))
  }

  /** Every receipt kept, oldest first. */
  list (): TabReceipt[] { return [...this.entries.values()] }
}
