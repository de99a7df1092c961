// The default anchor provider: an append-only file, one entry per line
// (base64url of the entry's DAG-CBOR), each entry naming the CID of the one
// before it. Node-only (node:fs); browsers use MemoryAnchorLog.
//
// A publish appends its line and fdatasyncs before it resolves. Opening the
// log replays every entry through the same checks as a publish (hash links,
// signatures, per-issuer seq and prev): any fault in a stored entry is an
// AnchorChainError. The one exception is the end of the file: bytes after the
// last newline, or a last line that does not even decode, are what a crash
// in the middle of an append leaves — they are dropped, with a warning, and
// the file is cut back to its last whole entry.
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { cidOf, concatBytes, fromBase64url, toBase64url } from '@webfabric/protocol'
import { syncDir } from '../blockstore/fs.ts'
import { type PreparedEntry, AnchorChain, MAX_ENTRY_BYTES, decodeEntry } from './chain.ts'
import { type SignedAnchor, anchorCid } from './commitment.ts'
import { AnchorChainError } from './errors.ts'
import type { AnchorAbortOptions, AnchorHistoryOptions, AnchorProvider, AnchorReceipt } from './interface.ts'
import { receiptOf } from './memory.ts'

/** Options of LocalAnchorLog. */
export interface LocalAnchorLogInit {
  /** Names the provider in receipts (default 'local-log'). */
  name?: string
  /** Where warnings go (a torn last entry dropped at open). Default: console.warn. */
  log?: (msg: string) => void
}

/** What opening the log found. */
export interface AnchorLogOpenReport {
  /** entries in the log, all verified */
  entries: number
  /** bytes of an unfinished last entry that were dropped (0 when the log ended cleanly) */
  droppedBytes: number
}

const NEWLINE = 0x0a
const READ_CHUNK = 64 * 1024
// Longest line a valid entry can make: base64url of MAX_ENTRY_BYTES.
const MAX_LINE = Math.ceil(MAX_ENTRY_BYTES * 4 / 3)
// Entries whose signatures are checked together when a log is reopened.
const REPLAY_BATCH = 256

/** A whole line of the file: its text (undefined when too long to be an entry) and where it lies. */
interface StoredLine { text: Uint8Array | undefined, start: number, end: number }

/** True when a line's text decodes to the shape of an entry (its checks come later). */
function decodesAsEntry (text: Uint8Array | undefined): boolean {
  if (text === undefined) return false
  try {
    decodeEntry(fromBase64url(ascii(text)))
    return true
  } catch {
    return false
  }
}

/** An AnchorProvider that appends to a local file. One LocalAnchorLog per file at a time. */
export class LocalAnchorLog implements AnchorProvider {
  /** absolute path of the log file */
  readonly path: string
  /** names this provider in receipts */
  readonly name: string
  readonly #log: (msg: string) => void
  #chain = new AnchorChain()
  /** byte offset of each entry's line */
  #offsets: number[] = []
  /** entry indexes of each issuer, in order */
  #byIssuer = new Map<string, number[]>()
  /** length of the file's committed content */
  #size = 0
  #handle?: FileHandle
  #opening?: Promise<AnchorLogOpenReport>
  #queue: Promise<unknown> = Promise.resolve()
  #broken?: Error

  /** A log in file `path` (created at open if missing). No I/O until open() or the first operation. */
  constructor (path: string, init: LocalAnchorLogInit = {}) {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('LocalAnchorLog needs the path of its file')
    this.path = resolve(path)
    this.name = init.name ?? 'local-log'
    this.#log = init.log ?? ((msg) => console.warn(msg))
  }

  /** Number of entries (after open). */
  get length (): number {
    return this.#chain.length
  }

  /**
   * Open the file (creating it) and verify the whole chain. Throws AnchorChainError naming
   * the first bad entry when a stored entry was altered; drops a torn last entry with a warning.
   */
  open (): Promise<AnchorLogOpenReport> {
    this.#opening ??= this.#open().catch(async (err) => {
      this.#opening = undefined
      await this.#handle?.close().catch(() => {})
      this.#handle = undefined
      throw err
    })
    return this.#opening
  }

  async #open (): Promise<AnchorLogOpenReport> {
    this.#chain = new AnchorChain()
    this.#offsets = []
    this.#byIssuer = new Map()
    this.#size = 0
    this.#broken = undefined
    await mkdir(dirname(this.path), { recursive: true })
    const existed = await stat(this.path).then(() => true, () => false)
    this.#handle = await open(this.path, 'a+', 0o644)
    if (!existed) await syncDir(dirname(this.path))
    const fileSize = (await this.#handle.stat()).size
    await this.#replay(this.#handle, fileSize)
    const droppedBytes = fileSize - this.#size
    if (droppedBytes > 0) {
      await this.#handle.truncate(this.#size)
      await this.#handle.datasync()
      this.#log(`anchor log ${this.path}: dropped ${droppedBytes} bytes of an unfinished last entry (a crash while appending); the log ends at entry ${this.#chain.length - 1}`)
    }
    return { entries: this.#chain.length, droppedBytes }
  }

  /** Read the file line by line and replay every entry; leaves #size at the end of the last good one. */
  async #replay (handle: FileHandle, fileSize: number): Promise<void> {
    // A complete line is replayed only once the next one is found: the last line is judged differently.
    let pending: StoredLine | undefined
    let batch: StoredLine[] = []
    let line: Uint8Array[] = []
    let lineLength = 0
    let lineStart = 0
    const buf = new Uint8Array(READ_CHUNK)
    for (let pos = 0; pos < fileSize;) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(READ_CHUNK, fileSize - pos), pos)
      if (bytesRead === 0) break
      let from = 0
      for (let i = 0; i < bytesRead; i++) {
        if (buf[i] !== NEWLINE) continue
        if (pending !== undefined) {
          batch.push(pending)
          if (batch.length >= REPLAY_BATCH) batch = await this.#replayBatch(batch)
        }
        const tail = buf.subarray(from, i)
        lineLength += tail.byteLength
        // An over-long line is kept only as its length: it cannot be an entry.
        pending = { text: lineLength <= MAX_LINE ? concatBytes(...line, tail) : undefined, start: lineStart, end: pos + i + 1 }
        line = []
        lineLength = 0
        lineStart = pos + i + 1
        from = i + 1
      }
      const rest = buf.subarray(from, bytesRead)
      lineLength += rest.byteLength
      if (lineLength <= MAX_LINE) line.push(rest.slice())
      else line = []
      pos += bytesRead
    }
    await this.#replayBatch(batch)
    // The last line may be a torn append (its newline written, earlier bytes not): it is
    // dropped if it does not even decode; if it decodes, it must verify like any other.
    // Whatever follows the last newline is an append that never finished: #size stays before it.
    if (pending !== undefined && decodesAsEntry(pending.text)) await this.#replayBatch([pending])
  }

  /** Replay whole lines that are not the last; returns an empty batch. */
  async #replayBatch (lines: StoredLine[]): Promise<StoredLine[]> {
    const stored: Uint8Array[] = []
    let fault: unknown
    for (const l of lines) {
      try {
        if (l.text === undefined) throw new RangeError(`line is longer than any entry (${MAX_LINE} characters)`)
        stored.push(fromBase64url(ascii(l.text)))
      } catch (err) {
        fault = err
        break
      }
    }
    const adopted = await this.#chain.replayAll(stored)
    for (let i = 0; i < adopted.length; i++) this.#remember(adopted[i], lines[i].start, lines[i].end)
    if (fault !== undefined) {
      const index = this.#chain.length
      throw new AnchorChainError(`anchor log entry ${index} is not an entry (${(fault as Error)?.message}): the log was altered; keep it for inspection and restore it from a good copy`, { index, cause: fault })
    }
    return []
  }

  #remember (p: PreparedEntry, start: number, end: number): void {
    this.#offsets.push(start)
    this.#size = end
    const list = this.#byIssuer.get(p.body.issuer)
    if (list === undefined) this.#byIssuer.set(p.body.issuer, [p.entry.n])
    else list.push(p.entry.n)
  }

  /** Verify and append an anchor; resolves once its line is fdatasynced (see AnchorProvider.publish). */
  publish (anchor: SignedAnchor, options: AnchorAbortOptions = {}): Promise<AnchorReceipt> {
    const run = this.#queue.then(async () => {
      await this.open()
      if (this.#broken !== undefined) throw this.#broken
      options.signal?.throwIfAborted()
      const p = await this.#chain.prepare(anchor)
      const line = `${toBase64url(p.bytes)}\n`
      const start = this.#size
      const handle = this.#handle!
      try {
        await handle.appendFile(line)
        await handle.datasync()
      } catch (err) {
        // Cut back a partial line so the next append does not glue onto it.
        try {
          await handle.truncate(start)
          await handle.datasync()
        } catch (cause) {
          this.#broken = new Error(`anchor log ${this.path} could not be restored after a failed append: reopen it (a torn last entry is dropped at open)`, { cause })
        }
        throw err
      }
      this.#chain.commit(p)
      this.#remember(p, start, start + line.length)
      return receiptOf(this.name, p)
    })
    this.#queue = run.catch(() => {})
    return run
  }

  /** The issuer's latest anchor. */
  async latest (issuer: string): Promise<SignedAnchor | undefined> {
    await this.open()
    return this.#chain.latest(issuer)
  }

  /** The issuer's anchors, oldest first, from `fromSeq`, read back from the file. */
  async * history (issuer: string, options: AnchorHistoryOptions = {}): AsyncGenerator<SignedAnchor> {
    await this.open()
    const from = options.fromSeq ?? 1
    const indexes = (this.#byIssuer.get(issuer) ?? []).slice()
    for (const i of indexes) {
      options.signal?.throwIfAborted()
      const entry = decodeEntry(await this.#entryBytes(i))
      if (entry.anchor.body.seq >= from) yield entry.anchor
    }
  }

  /** The stored bytes of entry `i` (a committed one). */
  async #entryBytes (i: number): Promise<Uint8Array> {
    const start = this.#offsets[i]
    const end = (this.#offsets[i + 1] ?? this.#size) - 1
    const buf = new Uint8Array(end - start)
    const { bytesRead } = await this.#handle!.read(buf, 0, buf.byteLength, start)
    return fromBase64url(ascii(buf.subarray(0, bytesRead)))
  }

  /** True when the file still holds the receipt's entry at its position. */
  async verify (receipt: AnchorReceipt): Promise<boolean> {
    await this.open()
    if (receipt?.provider !== this.name || !Number.isSafeInteger(receipt.index) || receipt.index < 0 || receipt.index >= this.#chain.length) return false
    try {
      const bytes = await this.#entryBytes(receipt.index)
      if ((await cidOf(bytes)).toString() !== receipt.entry) return false
      return (await anchorCid(decodeEntry(bytes).anchor)).toString() === receipt.anchor
    } catch {
      return false
    }
  }

  /** Wait for publishes in flight and close the file; later calls reopen (and re-verify) it. */
  async close (): Promise<void> {
    await this.#queue
    const opening = this.#opening
    this.#opening = undefined
    await opening?.catch(() => {})
    await this.#handle?.close()
    this.#handle = undefined
  }
}

/** Bytes as a string of the same length, one character per byte (base64url is ASCII; anything else fails to decode). */
function ascii (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.byteLength; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return s
}

