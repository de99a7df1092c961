// The admin API's byte channel. A put or get session started over Cap'n Web
// moves its bytes as the raw body of one HTTP request to the same loopback
// server, instead of as base64 inside RPC messages. The session hands its
// client a ticket (32 random bytes, base64url, single use, expiring) naming a
// path; only an authenticated admin client holds a session, so only it can
// obtain one. Without a live ticket every path here answers 404 and reaches
// nothing. Progress and results stay on the RPC session.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { type IncomingMessage, type ServerResponse, request } from 'node:http'
import { pipeline } from 'node:stream/promises'
import {
  DownloadAbortedError,
  ForbiddenOriginError,
  LengthRequiredError,
  MessageTooLargeError,
  MethodNotAllowedError,
  SizeMismatchError,
  TicketRefusedError,
  UploadAbortedError
} from './errors.ts'

/** How long a ticket stays usable after it is issued (ms): its request must arrive by then. */
export const TICKET_TTL_MS = 60_000
/** How long a transfer waits on its client (ms): a body that stops arriving, a response nobody reads. */
export const CLIENT_IDLE_MS = 60_000
/** Largest upload accepted (bytes) when the put declared no size. */
export const MAX_UPLOAD_BYTES = 2 ** 40
/** Bytes an upload hands its put at a time (the RPC path's piece size; at most MAX_PUT_PIECE). */
export const UPLOAD_PIECE = 4 * 2 ** 20

const TICKET_BYTES = 32
const TICKET_RE = /^[A-Za-z0-9_-]{43}$/
const PATH_RE = /^\/storage\/(put|get)\/([^/?#]*)$/
/** Largest error body a client reads back. */
const MAX_ERROR_BODY = 64 * 1024
/** Response headers naming a refusal (its error's name, and its message URI-encoded). */
const ERROR_HEADER = 'webfabric-error'
const ERROR_MESSAGE_HEADER = 'webfabric-error-message'

/** Which way a ticket's bytes go: `put` takes a request body, `get` gives a response body. */
export type TransferKind = 'put' | 'get'

/** Serves the one request that presented a ticket; owns `req` and `res` from then on. */
export type TransferHandler = (req: IncomingMessage, res: ServerResponse) => void

/** What a session gets back for a ticket: the path its client requests, when it expires, and how to revoke it. */
export interface IssuedTicket { path: string, expiresAt: number, revoke: () => void }

interface Pending { kind: TransferKind, secret: Buffer, serve: TransferHandler, timer: ReturnType<typeof setTimeout> }

/**
 * The tickets of one admin server. A ticket is held by the SHA-256 of its
 * bytes, so looking one up reveals nothing about the bytes of any other, and
 * the match is confirmed with a constant-time comparison.
 */
export class TicketDesk {
  private readonly pending = new Map<string, Pending>()
  private readonly ttlMs: number
  constructor (ttlMs = TICKET_TTL_MS) { this.ttlMs = ttlMs }

  /** Issues a single-use ticket for one transfer; `expired` runs if no request presents it within the TTL. */
  issue (kind: TransferKind, serve: TransferHandler, expired: () => void): IssuedTicket {
    const secret = randomBytes(TICKET_BYTES)
    const key = digest(secret)
    const timer = setTimeout(() => { if (this.pending.delete(key)) expired() }, this.ttlMs)
    this.pending.set(key, { kind, secret, serve, timer })
    return {
      path: `/storage/${kind}/${secret.toString('base64url')}`,
      expiresAt: Date.now() + this.ttlMs,
      revoke: () => { clearTimeout(timer); this.pending.delete(key) }
    }
  }

  /** Takes (uses up) the ticket `token` of `kind`; undefined when it is unknown, used, expired or of the other kind. */
  take (kind: TransferKind, token: string): TransferHandler | undefined {
    if (!TICKET_RE.test(token)) return undefined
    const given = Buffer.from(token, 'base64url')
    if (given.length !== TICKET_BYTES) return undefined
    const key = digest(given)
    const p = this.pending.get(key)
    if (p == null || !timingSafeEqual(p.secret, given) || p.kind !== kind) return undefined
    clearTimeout(p.timer)
    this.pending.delete(key)
    return p.serve
  }

  /** Tickets not yet presented. */
  get size (): number { return this.pending.size }

  /** Revokes every ticket (the server is closing). */
  close (): void {
    for (const p of this.pending.values()) clearTimeout(p.timer)
    this.pending.clear()
  }
}

function digest (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url')
}

/**
 * Answers a request for a path under `/storage/`; returns false (and touches
 * nothing) for any other path. Checks run before the ticket is looked up:
 * loopback Origin and Host, then the method its path takes.
 */
export function serveTransfer (desk: TicketDesk, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  if (!url.startsWith('/storage/')) return false
  if (!isLoopbackOrigin(req.headers.origin) || !isLoopbackHost(req.headers.host)) {
    refuse(res, 403, new ForbiddenOriginError())
    return true
  }
  const m = PATH_RE.exec(url)
  if (m == null) {
    refuse(res, 404, new TicketRefusedError())
    return true
  }
  const kind = m[1] as TransferKind
  const method = kind === 'put' ? 'PUT' : 'GET'
  if (req.method !== method) {
    res.setHeader('allow', method)
    refuse(res, 405, new MethodNotAllowedError(`/storage/${kind}/ takes ${method} only`))
    return true
  }
  const serve = desk.take(kind, m[2])
  if (serve == null) {
    refuse(res, 404, new TicketRefusedError())
    return true
  }
  serve(req, res)
  return true
}

/** True for no Origin (not a browser) or a loopback one. */
export function isLoopbackOrigin (origin: string | undefined): boolean {
  if (origin == null) return true
  try {
    return isLoopbackName(new URL(origin).hostname)
  } catch {
    return false
  }
}

function isLoopbackHost (host: string | undefined): boolean {
  if (host == null) return false
  try {
    return isLoopbackName(new URL(`http://${host}`).hostname)
  } catch {
    return false
  }
}

function isLoopbackName (name: string): boolean {
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]'
}

/** Answers with a named error as JSON and closes the connection (any body not read is never read). */
function refuse (res: ServerResponse, status: number, err: Error): void {
  if (res.headersSent) {
    res.destroy(err)
    return
  }
  const body = JSON.stringify({ error: err.name, message: err.message })
  // the name and message ride in headers too: a client still sending its body may lose the
  // connection before it reads ours (the headers arrive first)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
    [ERROR_HEADER]: err.name,
    [ERROR_MESSAGE_HEADER]: encodeURIComponent(err.message.slice(0, 500))
  })
  res.end(body)
}

/** The HTTP status an upload's failure is answered with. */
function statusOf (err: Error): number {
  switch (err.name) {
    case 'LengthRequiredError': return 411
    case 'MessageTooLargeError': return 413
    case 'SizeMismatchError': return 400
    case 'UploadAbortedError': return 400
    case 'QuotaExceededError': return 507
    default: return 500
  }
}

/**
 * Counts the time a transfer spends waiting on its client (not on the
 * storage side), and gives up after `idleMs` of it.
 */
class ClientWait {
  private since: number | undefined
  private readonly timer: ReturnType<typeof setInterval>
  constructor (idleMs: number, onIdle: () => void) {
    this.timer = setInterval(() => {
      if (this.since != null && performance.now() - this.since > idleMs) { this.stop(); onIdle() }
    }, Math.min(1000, Math.max(10, idleMs / 4)))
  }

  waiting (): void { this.since ??= performance.now() }
  working (): void { this.since = undefined }
  stop (): void { clearInterval(this.timer) }
}

/** Limits of one transfer. */
export interface TransferInit {
  /** the put's declared size: the upload must be exactly this long */
  size?: number
  idleMs?: number
}

/**
 * Feeds an upload's body to `write` in pieces of UPLOAD_PIECE, awaiting each
 * (so a slow put slows the client down through TCP, and nothing piles up
 * here). Resolves with the bytes taken once all Content-Length bytes were
 * taken and the client was answered; otherwise answers (when the client can
 * still hear) or cuts the connection, and rejects with why. It never finishes
 * or aborts the put: the caller does, by the outcome.
 */
export async function receiveUpload (req: IncomingMessage, res: ServerResponse, write: (piece: Uint8Array) => Promise<void>, init: TransferInit = {}): Promise<number> {
  const wait = new ClientWait(init.idleMs ?? CLIENT_IDLE_MS, () => {
    req.destroy(new UploadAbortedError(`the upload stalled: no bytes for ${Math.round((init.idleMs ?? CLIENT_IDLE_MS) / 1000)} s; the put was aborted`))
  })
  let arrived = 0
  let length = 0
  // errors of the put itself keep their names; anything the connection throws means the upload was cut
  const putErrors = new WeakSet<object>()
  const hand = async (piece: Uint8Array): Promise<void> => {
    try {
      await write(piece)
    } catch (err) {
      if (err != null && typeof err === 'object') putErrors.add(err)
      throw err
    }
  }
  try {
    length = uploadLength(req, init.size)
    let piece = new Uint8Array(Math.min(UPLOAD_PIECE, length))
    let filled = 0
    let handed = 0
    wait.waiting()
    // leaving the loop early must not destroy the request: the client is still owed a named refusal
    for await (const data of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      wait.working()
      arrived += data.length
      if (arrived > length) throw new MessageTooLargeError(`the upload is longer than its Content-Length (${length} bytes)`)
      for (let off = 0; off < data.length;) {
        const n = Math.min(piece.length - filled, data.length - off)
        piece.set(data.subarray(off, off + n), filled)
        filled += n
        off += n
        if (filled === piece.length) {
          await hand(piece)
          handed += filled
          piece = new Uint8Array(Math.min(UPLOAD_PIECE, length - handed))
          filled = 0
        }
      }
      wait.waiting()
    }
    wait.working()
    if (arrived !== length || !req.complete) throw new UploadAbortedError(`the upload ended after ${arrived} of ${length} bytes; the put was aborted`)
    if (filled > 0) await hand(piece.subarray(0, filled))
    const body = JSON.stringify({ bytes: arrived })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
    return arrived
  } catch (err) {
    let e = err as Error
    if (!putErrors.has(e) && !OUR_UPLOAD_ERRORS.has(e?.name)) {
      e = new UploadAbortedError(`the upload ended after ${arrived} of ${length} bytes (${e?.message ?? String(e)}); the put was aborted`)
    }
    if (!req.destroyed && !res.destroyed) refuse(res, statusOf(e), e)
    else res.destroy()
    throw e
  } finally {
    wait.stop()
  }
}

/** Refusals of an upload made here (kept by name; any other error off the request means it was cut). */
const OUR_UPLOAD_ERRORS = new Set(['UploadAbortedError', 'LengthRequiredError', 'MessageTooLargeError', 'SizeMismatchError'])

/** The upload's Content-Length, checked against the put's declared size and the limit. */
function uploadLength (req: IncomingMessage, size: number | undefined): number {
  const cl = req.headers['content-length']
  if (req.headers['transfer-encoding'] != null || cl == null) throw new LengthRequiredError()
  if (!/^\d{1,16}$/.test(cl)) throw new LengthRequiredError(`the Content-Length ${JSON.stringify(cl.slice(0, 20))} is not a byte count`)
  const length = Number(cl)
  if (length > MAX_UPLOAD_BYTES) throw new MessageTooLargeError(`an upload carries at most ${MAX_UPLOAD_BYTES} bytes`)
  if (size != null && length !== size) {
    if (length > size) throw new MessageTooLargeError(`the upload carries ${length} bytes but its put declared ${size}`)
    throw new SizeMismatchError(`the upload carries ${length} bytes but its put declared ${size}`)
  }
  return length
}

/**
 * Streams an object as a response body of exactly `size` bytes, pulling the
 * next piece from `read` only once the client took the last (a client that
 * stops reading holds nothing here but one piece). Resolves with the bytes
 * sent once the last left; on any failure cuts the response short (the client
 * sees fewer bytes than its Content-Length) and rejects with why.
 */
export async function sendDownload (res: ServerResponse, read: () => Promise<Uint8Array | null>, size: number, init: TransferInit = {}): Promise<number> {
  let gone: Error | undefined
  const idleMs = init.idleMs ?? CLIENT_IDLE_MS
  const wait = new ClientWait(idleMs, () => {
    res.destroy(new DownloadAbortedError(`the client read nothing for ${Math.round(idleMs / 1000)} s`))
  })
  let sent = 0
  const onClose = (): void => { if (!res.writableFinished) gone ??= new DownloadAbortedError(`the client went away after ${sent} of ${size} bytes`) }
  res.on('close', onClose)
  try {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
    for (;;) {
      if (gone != null) throw gone
      const piece = await read()
      if (piece == null) break
      if (sent + piece.length > size) throw new Error(`the object is longer than its recorded size (${size} bytes)`)
      sent += piece.length
      if (!res.write(piece)) {
        wait.waiting()
        await drained(res)
        wait.working()
      }
    }
    if (sent !== size) throw new Error(`the object ended after ${sent} of its ${size} bytes`)
    await new Promise<void>((resolve, reject) => {
      res.end(() => resolve())
      res.once('close', () => { if (!res.writableFinished) reject(gone ?? new DownloadAbortedError()) })
    })
    return sent
  } catch (err) {
    res.destroy()
    throw gone ?? err
  } finally {
    wait.stop()
    res.off('close', onClose)
  }
}

async function drained (res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { res.off('drain', done); res.off('close', done); res.destroyed ? reject(new DownloadAbortedError()) : resolve() }
    res.on('drain', done)
    res.on('close', done)
  })
}

// -- the client side ---------------------------------------------------------

/** The http:// URL of a transfer `path` on the admin server at `adminUrl` (its ws:// URL). */
export function transferUrl (adminUrl: string, path: string): URL {
  const m = PATH_RE.exec(path)
  if (m == null || !TICKET_RE.test(m[2])) throw new TypeError(`not a transfer path: ${path.slice(0, 80)}`)
  const base = new URL(adminUrl)
  if (base.protocol !== 'ws:' && base.protocol !== 'http:') throw new TypeError(`the admin URL ${adminUrl} is not ws:// or http://`)
  return new URL(path, `http://${base.host}`)
}

/** A refusal read back from the channel: `name: message`, the name kept when it is one of ours. */
async function refusal (res: IncomingMessage): Promise<Error> {
  let name = headerOf(res, ERROR_HEADER) ?? 'Error'
  let message = `the admin endpoint answered ${res.statusCode ?? '?'}`
  try {
    message = decodeURIComponent(headerOf(res, ERROR_MESSAGE_HEADER) ?? '') || message
  } catch {}
  if (headerOf(res, ERROR_HEADER) == null) {
    // (no headers: read the body, if the connection still gives it)
    let text = ''
    try {
      for await (const piece of res as AsyncIterable<Buffer>) {
        if (text.length + piece.length > MAX_ERROR_BODY) break
        text += piece.toString('utf8')
      }
      const j = JSON.parse(text) as { error?: unknown, message?: unknown }
      if (typeof j.error === 'string') name = j.error
      if (typeof j.message === 'string') message = j.message
    } catch {}
  } else {
    res.resume()
  }
  if (!/^[A-Za-z]{1,64}Error$/.test(name)) name = 'Error'
  message = message.slice(0, 1000)
  const e = new Error(name === 'Error' ? message : `${name}: ${message}`)
  if (name !== 'Error') e.name = name
  return e
}

function headerOf (res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name]
  return typeof v === 'string' ? v : undefined
}

/**
 * Sends `body` (`length` bytes) as an upload to a put ticket's `path`, with
 * back-pressure (the body is read only as fast as the node takes it).
 * Resolves with what the node took; rejects with the node's named refusal,
 * or the connection's or the body's error. Either way the put's own outcome
 * is `finish()` on its session.
 */
export async function uploadBody (adminUrl: string, path: string, body: NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, length: number, opts: { signal?: AbortSignal } = {}): Promise<{ bytes: number }> {
  const url = transferUrl(adminUrl, path)
  const req = request(url, { method: 'PUT', agent: false, signal: opts.signal, headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) } })
  const response = new Promise<IncomingMessage>((resolve, reject) => { req.once('response', resolve); req.once('error', reject) })
  response.catch(() => {})
  const [sent, answered] = await Promise.allSettled([pipeline(body as AsyncIterable<Uint8Array>, req), response])
  if (answered.status === 'fulfilled') {
    const res = answered.value
    if (res.statusCode !== 200) throw await refusal(res)
    let text = ''
    for await (const piece of res as AsyncIterable<Buffer>) text += piece.toString('utf8')
    if (sent.status === 'rejected') throw sent.reason
    return JSON.parse(text) as { bytes: number }
  }
  throw sent.status === 'rejected' ? sent.reason : answered.reason
}

/**
 * Opens a get ticket's `path`: the response is the object's bytes (its
 * `content-length` the object's size). Rejects with the node's named refusal.
 * A body cut short (the get failed on the node) errors as a stream; the get's
 * own outcome is `finish()` on its session.
 */
export async function downloadBody (adminUrl: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<IncomingMessage> {
  const url = transferUrl(adminUrl, path)
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, signal: opts.signal })
    req.once('response', resolve)
    req.once('error', reject)
    req.end()
  })
  if (res.statusCode !== 200) throw await refusal(res)
  return res
}
