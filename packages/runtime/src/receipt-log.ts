// The participant's record of everything its device ran: every receipt this
// node signed, and the coordinator's countersignature when its result was
// accepted. Append-only JSON lines in the data directory, so a crash loses at
// most the line being written; read back whole for `webfabric receipts`.
import { type FileHandle, open, readFile } from 'node:fs/promises'
import {
  type Acceptance,
  type Receipt,
  type ReceiptBody,
  decodeAcceptance,
  decodeReceipt,
  encodeAcceptance,
  encodeReceipt,
  receiptCidOfBytes
} from '@webfabric/compute'
import { fromBase64url } from '@webfabric/protocol'
import { markVerdicts } from './browser/receipts.ts'

/** One receipt as listed: its body, its id, and whether the coordinator accepted it. */
export interface ReceiptEntry extends ReceiptBody {
  cid: string
  /** true / false once countersigned; undefined while no acceptance arrived */
  accepted?: boolean
  acceptedAt?: number
}

/** A log line: a receipt we signed (with its CID), or an acceptance of some of them. */
interface Line { t: 'r' | 'a', cid?: string, b: string }

/** Unpadded base64url, as toBase64url writes it, by Node's own encoder (toBase64url's loop was ~15 µs a receipt). */
function base64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** Most receipts kept in memory for listing (older ones stay on disk). */
const MAX_IN_MEMORY = 100_000

/** Append-only receipt log of one node. */
export class ReceiptLog {
  readonly path: string
  private readonly entries = new Map<string, ReceiptEntry>()
  private loaded?: Promise<void>
  private writes: Promise<void> = Promise.resolve()
  private readonly queued: string[] = []
  private file?: FileHandle

  constructor (path: string) {
    this.path = path
  }

  /** Record a receipt this node signed (`encoded`: its encodeReceipt bytes, if at hand); returns its CID. */
  async append (receipt: Receipt, encoded = encodeReceipt(receipt)): Promise<string> {
    await this.load()
    const cid = await receiptCidOfBytes(encoded)
    this.remember(cid, receipt)
    await this.write({ t: 'r', cid, b: base64url(encoded) })
    return cid
  }

  /**
   * Record a verified acceptance: the verdicts on our receipts that name its
   * coordinator (others in it are ignored). Returns how many it answered.
   */
  async accept (acceptance: Acceptance): Promise<number> {
    await this.load()
    const n = this.mark(acceptance)
    if (n > 0) await this.write({ t: 'a', b: base64url(encodeAcceptance(acceptance)) })
    return n
  }

  private mark (acceptance: Acceptance): number {
    return markVerdicts(this.entries, acceptance)
  }

  /** Close the log's file (the node stops); later appends reopen it. */
  async close (): Promise<void> {
    await this.writes.catch(() => {})
    const f = this.file
    this.file = undefined
    await f?.close()
  }

  /** Receipts, newest first. */
  async list (opts: { limit?: number, job?: string } = {}): Promise<ReceiptEntry[]> {
    await this.load()
    let all = [...this.entries.values()]
    if (opts.job != null) all = all.filter(e => e.job === opts.job)
    all.reverse()
    return opts.limit != null ? all.slice(0, opts.limit) : all
  }

  private remember (cid: string, r: Receipt): void {
    this.entries.set(cid, { ...r.body, cid })
    if (this.entries.size > MAX_IN_MEMORY) this.entries.delete(this.entries.keys().next().value as string)
  }

  /** Append a line; lines queued while a write is in flight are appended together. */
  private async write (line: Line): Promise<void> {
    this.queued.push(`${JSON.stringify(line)}\n`)
    if (this.queued.length === 1) {
      this.writes = this.writes.catch(() => {}).then(async () => {
        const text = this.queued.splice(0).join('')
        // one handle for the log's life: opening and closing per batch was a tenth of a busy worker's CPU
        this.file ??= await open(this.path, 'a', 0o600)
        await this.file.appendFile(text)
      })
    }
    await this.writes
  }

  private async load (): Promise<void> {
    this.loaded ??= (async () => {
      let text = ''
      try { text = await readFile(this.path, 'utf8') } catch { return }
      for (const raw of text.split('\n')) {
        if (raw.length === 0) continue
        try {
          const line = JSON.parse(raw) as Line
          if (line.t === 'r' && line.cid != null) this.remember(line.cid, decodeReceipt(fromBase64url(line.b)))
          else if (line.t === 'a') this.mark(decodeAcceptance(fromBase64url(line.b)))
        } catch {} // a torn last line (crash mid-write) is skipped, not fatal
      }
    })()
    await this.loaded
  }
}
