// An anchor log in memory: for tests, and for the browser until it has a
// durable anchor. Same checks as the file log (the AnchorChain core);
// nothing survives a restart. Browser-safe.
import { type PreparedEntry, AnchorChain } from './chain.ts'
import type { SignedAnchor } from './commitment.ts'
import type { AnchorAbortOptions, AnchorHistoryOptions, AnchorProvider, AnchorReceipt } from './interface.ts'

/** Builds the receipt of a committed entry. */
export function receiptOf (provider: string, p: PreparedEntry): AnchorReceipt {
  return { provider, issuer: p.body.issuer, seq: p.body.seq, anchor: p.anchorCid.toString(), index: p.entry.n, entry: p.cid.toString() }
}

/** An AnchorProvider whose log lives in memory. */
export class MemoryAnchorLog implements AnchorProvider {
  /** names this provider in receipts */
  readonly name: string
  readonly #chain = new AnchorChain()
  readonly #entries: PreparedEntry[] = []
  #queue: Promise<unknown> = Promise.resolve()

  /** An empty log; `name` defaults to 'memory'. */
  constructor (name = 'memory') {
    this.name = name
  }

  /** Number of entries. */
  get length (): number {
    return this.#chain.length
  }

  /** Verify and append an anchor (see AnchorProvider.publish). */
  publish (anchor: SignedAnchor, options: AnchorAbortOptions = {}): Promise<AnchorReceipt> {
    // One publish at a time: each is checked against the state the previous one left.
    const run = this.#queue.then(async () => {
      options.signal?.throwIfAborted()
      const p = await this.#chain.prepare(anchor)
      this.#chain.commit(p)
      this.#entries.push(p)
      return receiptOf(this.name, p)
    })
    this.#queue = run.catch(() => {})
    return run
  }

  /** The issuer's latest anchor. */
  async latest (issuer: string): Promise<SignedAnchor | undefined> {
    return this.#chain.latest(issuer)
  }

  /** The issuer's anchors, oldest first, from `fromSeq`. */
  async * history (issuer: string, options: AnchorHistoryOptions = {}): AsyncGenerator<SignedAnchor> {
    const from = options.fromSeq ?? 1
    for (const p of this.#entries.slice()) {
      options.signal?.throwIfAborted()
      if (p.body.issuer === issuer && p.body.seq >= from) yield p.entry.anchor
    }
  }

  /** True when the receipt's entry is at its position. */
  async verify (receipt: AnchorReceipt): Promise<boolean> {
    if (receipt?.provider !== this.name || !Number.isSafeInteger(receipt.index)) return false
    const p = this.#entries[receipt.index]
    return p !== undefined && p.cid.toString() === receipt.entry && p.anchorCid.toString() === receipt.anchor
  }

  /** Nothing to release. */
  async close (): Promise<void> {}
}
