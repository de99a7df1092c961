// The anchor log's core: which anchor may come next, and the hash chain of
// log entries. Pure (no I/O, no clock): the memory log and the file log both
// drive it — `prepare` checks an anchor and builds its entry, the log writes
// the entry durably, then `commit` adopts it; reopening a log `replay`s every
// stored entry through the same checks.
import { MalformedError, cidOf, decode, encode } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { type AnchorBody, type SignedAnchor, MAX_ANCHOR_BYTES, anchorCid, anchorOf, encodeAnchor, verifyAnchor } from './commitment.ts'
import { AnchorChainError, StaleAnchorError } from './errors.ts'

/** Largest encoded log entry accepted. */
export const MAX_ENTRY_BYTES = 2048

/** One entry of an anchor log: its position, the anchor, and the CID of the entry before it. */
export interface AnchorLogEntry {
  /** position in the log, from 0 */
  n: number
  anchor: SignedAnchor
  /** CID of entry n - 1 (its encoded bytes); null for entry 0 */
  prev: CID | null
}

/** An entry checked and encoded, ready to be written and then committed. */
export interface PreparedEntry {
  entry: AnchorLogEntry
  /** the entry's canonical DAG-CBOR bytes: what the log stores */
  bytes: Uint8Array
  /** CID of `bytes`: the next entry's prev */
  cid: CID
  /** anchorCid of the entry's anchor */
  anchorCid: CID
  body: AnchorBody
}

/** What the chain knows of one issuer. */
interface IssuerHead { seq: number, cid: CID, anchor: SignedAnchor }

/** Decode a stored entry's bytes (shape only); MalformedError when they are not an entry. */
export function decodeEntry (bytes: Uint8Array): AnchorLogEntry {
  const x = decode(bytes, { maxBytes: MAX_ENTRY_BYTES }) as Record<string, unknown> | null
  if (x == null || typeof x !== 'object' || Object.keys(x).length !== 3 || !Number.isSafeInteger(x.n) || (x.n as number) < 0 ||
    (x.prev !== null && CID.asCID(x.prev) == null)) {
    throw new MalformedError('an anchor log entry is { n, anchor, prev }', { field: 'entry' })
  }
  return { n: x.n as number, anchor: anchorOf(x.anchor), prev: x.prev === null ? null : CID.asCID(x.prev) }
}

function sameCid (a: CID | null, b: CID | null): boolean {
  return a === null || b === null ? a === b : a.equals(b)
}

/** The state of an anchor log: its length, its head, and each issuer's latest anchor. */
export class AnchorChain {
  #length = 0
  #head: CID | null = null
  readonly #issuers = new Map<string, IssuerHead>()

  /** Number of entries. */
  get length (): number {
    return this.#length
  }

  /** CID of the last entry; null while the log is empty. */
  get head (): CID | null {
    return this.#head
  }

  /** The issuer's latest anchor, if it has any. */
  latest (issuer: string): SignedAnchor | undefined {
    return this.#issuers.get(issuer)?.anchor
  }

  /**
   * Check `anchor` as the next one to publish and build its entry; changes nothing.
   * MalformedError (shape, size), InvalidSignatureError, StaleAnchorError (seq not above
   * the issuer's latest), AnchorChainError (seq skips, or prev is not the issuer's latest).
   */
  async prepare (anchor: SignedAnchor): Promise<PreparedEntry> {
    const { checked, body } = await checkAnchor(anchor)
    return await this.#link(checked, body)
  }

  /** The chain checks of an anchor whose shape and signature were checked. */
  async #link (checked: SignedAnchor, body: AnchorBody): Promise<PreparedEntry> {
    const known = this.#issuers.get(body.issuer)
    if (known !== undefined && body.seq <= known.seq) {
      throw new StaleAnchorError(undefined, { issuer: body.issuer, seq: body.seq, latestSeq: known.seq })
    }
    const expected = (known?.seq ?? 0) + 1
    if (body.seq !== expected) {
      throw new AnchorChainError(`anchor seq ${body.seq} skips: this provider's latest for the issuer is ${expected - 1}; publish seq ${expected}, built on latest()`)
    }
    if (!sameCid(body.prev, known?.cid ?? null)) {
      throw new AnchorChainError('anchor prev does not name the issuer\'s latest anchor here: build it on latest() and publish again')
    }
    const entry: AnchorLogEntry = { n: this.#length, anchor: checked, prev: this.#head }
    const bytes = encode(entry)
    if (bytes.byteLength > MAX_ENTRY_BYTES) throw new MalformedError(`an encoded log entry is at most ${MAX_ENTRY_BYTES} bytes`, { field: 'anchor' })
    return { entry, bytes, cid: await cidOf(bytes), anchorCid: await anchorCid(checked), body }
  }

  /** Adopt a prepared entry once it is stored. Throws if another entry was committed since it was prepared. */
  commit (p: PreparedEntry): void {
    if (p.entry.n !== this.#length || !sameCid(p.entry.prev, this.#head)) {
      throw new AnchorChainError('entry was prepared against an older head: prepare it again', { index: p.entry.n })
    }
    this.#length++
    this.#head = p.cid
    this.#issuers.set(p.body.issuer, { seq: p.body.seq, cid: p.anchorCid, anchor: p.entry.anchor })
  }

  /**
   * Check the stored bytes of entry `this.length` and adopt them. Any fault — undecodable,
   * wrong position, prev not the head, a bad signature, a seq out of order — is an
   * AnchorChainError naming the entry's index, with the underlying error as cause.
   */
  async replay (bytes: Uint8Array): Promise<PreparedEntry> {
    return (await this.replayAll([bytes]))[0]
  }

  /**
   * replay() for consecutive stored entries: their signatures are checked concurrently
   * (reopening a long log is bound by signature checks), the chain in order. Entries before
   * the first bad one are adopted; then its AnchorChainError is thrown.
   */
  async replayAll (stored: Uint8Array[]): Promise<PreparedEntry[]> {
    const checks = await Promise.all(stored.map(async (bytes) => {
      try {
        const entry = decodeEntry(bytes)
        return { entry, ...await checkAnchor(entry.anchor) }
      } catch (err) {
        return { err }
      }
    }))
    const out: PreparedEntry[] = []
    for (const c of checks) {
      const index = this.#length
      let p: PreparedEntry
      try {
        if ('err' in c) throw c.err
        if (c.entry.n !== index) throw new MalformedError(`entry says it is number ${c.entry.n}`, { field: 'n' })
        if (!sameCid(c.entry.prev, this.#head)) throw new MalformedError('entry prev is not the CID of the entry before it', { field: 'prev' })
        p = await this.#link(c.checked, c.body)
      } catch (err) {
        throw new AnchorChainError(`anchor log entry ${index} breaks the chain (${(err as Error)?.message}): the log was altered; keep it for inspection and restore it from a good copy`, { index, cause: err })
      }
      this.commit(p)
      out.push(p)
    }
    return out
  }
}

/** Shape, size and signature of an anchor to publish. */
async function checkAnchor (anchor: SignedAnchor): Promise<{ checked: SignedAnchor, body: AnchorBody }> {
  const checked = anchorOf(anchor)
  if (encodeAnchor(checked).byteLength > MAX_ANCHOR_BYTES) throw new MalformedError(`an encoded anchor is at most ${MAX_ANCHOR_BYTES} bytes`, { field: 'anchor' })
  return { checked, body: await verifyAnchor(checked) }
}
