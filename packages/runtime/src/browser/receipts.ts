// A tab's record of what ran on it: the receipts its worker signed and the
// coordinators' verdicts on them, kept in memory for the page to list (the
// newest MAX_TAB_RECEIPTS) and announced as they come, and archived in the
// browser (IndexedDB) so the person still sees them after the tab is gone:
// a tab starts with the receipts of the tabs before it. Browser-safe.
import { type Acceptance, type Receipt, receiptCid } from '@webfabric/compute'
import type { ReceiptSink } from '../compute-worker.ts'
import { done, openDatabase, request } from './idb.ts'
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

/** Where a browser keeps the receipts of its tabs. */
export interface ReceiptArchive {
  /** The newest `limit` receipts kept, oldest first (older ones are deleted). */
  load: (limit: number) => Promise<TabReceipt[]>
  /** Keep (or update) a receipt; failures are reported, never thrown into the worker. */
  save: (r: TabReceipt) => void
  /** Resolves once every receipt saved so far is written (or its failure reported). */
  flush: () => Promise<void>
  close: () => void
}

/** The IndexedDB database of the receipts a browser's tabs ran, per origin (the page's). */
export const RECEIPT_ARCHIVE = 'webfabric-receipts'

/** How long a browser's receipt archive gathers saves before it writes them in one transaction, ms. */
export const RECEIPT_ARCHIVE_BATCH_MS = 1000

/**
 * Receipts in IndexedDB: one object store keyed by CID, indexed by when each was first kept. Saves are
 * gathered for `batchMs` and written together in one transaction (relaxed durability: a receipt lost in a
 * crash is still on the coordinator), the newest version of each receipt once; `flush` and `close` write
 * at once. A transaction per receipt and per verdict cost the page's main thread ~2 ms per execution.
 */
export function idbReceiptArchive (name = RECEIPT_ARCHIVE, init: { indexedDB?: IDBFactory, log?: (msg: string) => void, batchMs?: number } = {}): ReceiptArchive {
  const STORE = 'receipts'
  const factory = init.indexedDB ?? globalThis.indexedDB
  const batchMs = init.batchMs ?? RECEIPT_ARCHIVE_BATCH_MS
  let db: Promise<IDBDatabase> | undefined
  const open = (): Promise<IDBDatabase> => (db ??= openDatabase(factory, name, d => { d.createObjectStore(STORE, { keyPath: 'cid' }).createIndex('kept', 'kept') }))
  let queue: Promise<void> = Promise.resolve()
  let kept = Date.now()
  /** each receipt's place in the order, for those loaded or saved here: an update (the verdict) keeps it */
  const places = new Map<string, number>()
  const placeOf = (cid: string): number => {
    let at = places.get(cid)
    if (at == null) {
      at = kept++
      places.set(cid, at)
      if (places.size > MAX_TAB_RECEIPTS) places.delete(places.keys().next().value as string)
    }
    return at
  }
  const pending = new Map<string, TabReceipt & { kept: number }>()
  let timer: ReturnType<typeof setTimeout> | undefined
  const write = (): void => {
    if (timer != null) clearTimeout(timer)
    timer = undefined
    if (pending.size === 0) return
    const batch = [...pending.values()]
    pending.clear()
    queue = queue.then(async () => {
      const tx = (await open()).transaction(STORE, 'readwrite', { durability: 'relaxed' })
      const store = tx.objectStore(STORE)
      for (const row of batch) store.put(row)
      await done(tx)
    }).catch(err => init.log?.(`${batch.length} receipts were not archived: ${(err as Error).message}`))
  }
  return {
    load: async limit => {
      const tx = (await open()).transaction(STORE, 'readwrite')
      const all = await request(tx.objectStore(STORE).index('kept').getAll()) as Array<TabReceipt & { kept: number }>
      const drop = all.slice(0, Math.max(0, all.length - limit))
      for (const r of drop) tx.objectStore(STORE).delete(r.cid)
      await done(tx)
      const rest = all.slice(drop.length)
      for (const r of rest.slice(-MAX_TAB_RECEIPTS)) places.set(r.cid, r.kept)
      // receipts saved from here on sort after every one loaded
      kept = Math.max(kept, (all.at(-1)?.kept ?? 0) + 1)
      return rest.map(({ kept: _, ...r }) => r as TabReceipt)
    },
    save: r => {
      pending.delete(r.cid)
      pending.set(r.cid, { ...r, kept: placeOf(r.cid) })
      timer ??= setTimeout(write, batchMs)
    },
    flush: async () => {
      write()
      await queue
    },
    close: () => {
      write()
      void queue.then(async () => (await db)?.close()).catch(() => {})
    }
  }
}

/** Receipt log of a tab: in memory, and archived when given an archive. */
export class TabReceiptLog implements ReceiptSink {
  private readonly entries = new Map<string, TabReceipt>()
  private readonly on: { receipt: (r: TabReceipt) => void, accepted: (r: TabReceipt) => void }
  private readonly archive?: ReceiptArchive

  constructor (on: { receipt: (r: TabReceipt) => void, accepted: (r: TabReceipt) => void }, archive?: ReceiptArchive) {
    this.on = on
    this.archive = archive
  }

  /** Loads the receipts earlier tabs of this browser archived (before this tab runs anything). */
  async loadArchived (): Promise<number> {
    if (this.archive == null) return 0
    const earlier = await this.archive.load(MAX_TAB_RECEIPTS)
    for (const r of earlier) if (!this.entries.has(r.cid)) this.entries.set(r.cid, r)
    return earlier.length
  }

  async append (receipt: Receipt): Promise<string> {
    const cid = await receiptCid(receipt)
    const entry: TabReceipt = { ...receipt.body, cid }
    this.entries.set(cid, entry)
    if (this.entries.size > MAX_TAB_RECEIPTS) this.entries.delete(this.entries.keys().next().value as string)
    this.archive?.save(entry)
    this.on.receipt(entry)
    return cid
  }

  /** Marks our receipts that the (already verified) acceptance names, when it comes from their coordinator. */
  async accept (acceptance: Acceptance): Promise<number> {
    return markVerdicts(this.entries, acceptance, e => { this.archive?.save(e); this.on.accepted(e) })
  }

  /** Resolves once every receipt and verdict so far is archived (or its failure reported). */
  async flush (): Promise<void> { await this.archive?.flush() }

  /** Stops archiving (what was saved stays). */
  close (): void { this.archive?.close() }

  /** Every receipt kept, oldest first. */
  list (): TabReceipt[] { return [...this.entries.values()] }
}
