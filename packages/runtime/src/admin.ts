// The node's admin API for the CLI (and later the dashboard): object-capability
// RPC (Cap'n Web) over a WebSocket bound to loopback. The only thing an
// unauthenticated client can reach is `AdminGate.authenticate(token)`, which
// hands back the admin object; without the token there is nothing to call.
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { RpcTarget, newWebSocketRpcSession } from 'capnweb'
import { WebSocketServer } from 'ws'
import { type IssuedTicket, TicketDesk, isLoopbackOrigin, receiveUpload, sendDownload, serveTransfer } from './admin-channel.ts'
import { DownloadAbortedError, SessionBusyError, TicketExpiredError, UnauthorizedError, UploadAbortedError } from './errors.ts'
import type { JobProgress, JobReport, JobSpec, JobView } from './compute-coordinator.ts'
import type { MemberView } from './membership-service.ts'
import type { ProcEvent, ProcInfo, ProcSpec } from './process-service.ts'
import type { ReceiptEntry } from './receipt-log.ts'
import type { ScrubReport } from './storage-runtime.ts'
import type { Holding, PutResult, StatResult, StorageProgress } from './storage-service.ts'
import type { GetReader, PutSessionOptions, PutWriter } from './storage-session.ts'

/** The operations a node exposes to its operator (implemented by FabricNode). */
export interface AdminOps {
  info (): unknown
  members (): unknown
  publish (topic: string, data: Uint8Array): Promise<{ recipients: number }>
  subscribe (topic: string, onMessage: (msg: { topic: string, data: Uint8Array, from: string }) => void): Promise<() => void>
  leases (): unknown
  revokeLease (id: string): Promise<unknown>
  stats (): unknown
  shutdown (): Promise<void>
  /** Run a job on the fabric (coordinators only); progress goes to the callback. */
  submitJob (spec: JobSpec, onProgress?: (p: JobProgress) => void): Promise<JobReport>
  /** Running and recently finished jobs this node coordinates, newest first (empty when it coordinates none). */
  jobs (): Promise<JobView[]>
  /** Receipts of work this node ran, newest first. */
  receipts (opts: { limit?: number, job?: string }): Promise<ReceiptEntry[]>
  procSpawn (spec: ProcSpec): Promise<ProcInfo>
  procList (): Promise<ProcInfo[]>
  procKill (id: string): Promise<ProcInfo>
  procWait (id: string, onEvent?: (e: ProcEvent) => void): Promise<ProcInfo>
  /** Start a put fed by write() calls (nodes with storage/put). */
  storagePut (opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): Promise<PutWriter>
  /** Open an object for reading by its read capability. */
  storageGet (cap: string, onProgress?: (p: StorageProgress) => void): Promise<GetReader>
  storageStat (cap: string): Promise<StatResult>
  storagePin (cap: string, pin: boolean): Promise<unknown>
  /** Re-verify every block this node holds now; heal what fails. */
  storageScrub (): Promise<ScrubReport>
  /** What this node holds. */
  storageHeld (): Promise<Holding[]>
}

/** What the byte channel's sessions share: the server's tickets, its client wait, its counters. */
interface Channel {
  desk: TicketDesk
  idleMs?: number
  counters: { uploadBytes: number, downloadBytes: number }
}

/** A ticket's transfer, as its session sees it. */
interface Transfer {
  ticket: IssuedTicket
  /** settles when the transfer does: with its bytes, or rejected with why */
  outcome: Promise<number>
  /** ends the transfer now (revokes its ticket, cuts its request); the outcome, if still open, rejects with `err` */
  cancel: (err: Error) => void
}

/** Issues a ticket whose request is served by `serve`; `onFail` runs once if the transfer fails or expires. */
function transfer (channel: Channel, kind: 'put' | 'get', serve: (req: IncomingMessage, res: ServerResponse) => Promise<number>, onFail: (err: Error) => void): Transfer {
  const { promise, resolve, reject } = Promise.withResolvers<number>()
  promise.catch(() => {})
  let settled = false
  let live: { req: IncomingMessage, res: ServerResponse } | undefined
  const settle = (err: Error | undefined, bytes = 0): void => {
    if (settled) return
    settled = true
    live = undefined
    if (err == null) {
      resolve(bytes)
    } else {
      onFail(err)
      reject(err)
    }
  }
  const ticket = channel.desk.issue(kind, (req, res) => {
    live = { req, res }
    serve(req, res).then(bytes => settle(undefined, bytes), err => settle(err as Error))
  }, () => settle(new TicketExpiredError()))
  return {
    ticket,
    outcome: promise,
    cancel: err => {
      ticket.revoke()
      if (live != null) { live.req.destroy(); live.res.destroy() }
      settle(err)
    }
  }
}

/**
 * A put in progress, held by the admin client that started it. It takes its
 * bytes either from write() calls or from one upload on the byte channel
 * (`upload()` hands out the ticket), never both.
 */
class AdminPut extends RpcTarget {
  private readonly w: PutWriter
  private readonly release: () => void
  private readonly channel: Channel
  private readonly size?: number
  private via: 'none' | 'write' | 'upload' = 'none'
  private upload_?: Transfer
  constructor (w: PutWriter, release: () => void, channel: Channel, size?: number) {
    super()
    this.w = w
    this.release = release
    this.channel = channel
    this.size = size
  }

  async write (bytes: Uint8Array): Promise<void> {
    if (this.via === 'upload') throw withName(new SessionBusyError('this put takes its bytes from its upload; write() is closed'))
    this.via = 'write'
    await named(() => this.w.write(bytes))
  }

  /**
   * A ticket for sending the whole object as the raw body of one
   * `PUT <path>` (with a Content-Length; the put's declared size if it has
   * one). The put is aborted if the ticket expires unused or the upload is
   * cut; `finish()` then rejects with why.
   */
  upload (): { path: string, expiresAt: number } {
    if (this.via !== 'none') throw withName(new SessionBusyError(this.via === 'write' ? 'this put already takes write() calls; an upload would follow them' : 'this put already has its upload ticket'))
    this.via = 'upload'
    this.upload_ = transfer(this.channel, 'put', async (req, res) => {
      const bytes = await receiveUpload(req, res, async piece => {
        await this.w.write(piece)
        this.channel.counters.uploadBytes += piece.length
      }, { size: this.size, idleMs: this.channel.idleMs })
      return bytes
    }, err => { this.w.abort(err) })
    return { path: this.upload_.ticket.path, expiresAt: this.upload_.ticket.expiresAt }
  }

  /** Ends the put (after its upload, if it has one) and returns the result once every position is stored. */
  async finish (): Promise<PutResult> {
    try {
      if (this.upload_ != null) await named(() => this.upload_!.outcome)
      return await named(() => this.w.finish())
    } finally {
      this.release()
    }
  }

  abort (reason?: string): void { this.stop(typeof reason === 'string' ? reason : 'the put was aborted') }
  [Symbol.dispose] (): void { this.stop('the client went away') }

  private stop (reason: string): void {
    this.upload_?.cancel(new UploadAbortedError(`${reason}; the put was aborted`))
    this.w.abort(reason)
    this.release()
  }
}

/**
 * A get in progress, held by the admin client that opened it. It gives its
 * bytes either to read() calls or to one download on the byte channel
 * (`download()` hands out the ticket), never both.
 */
class AdminGet extends RpcTarget {
  private readonly r: GetReader
  private readonly release: () => void
  private readonly channel: Channel
  private via: 'none' | 'read' | 'download' = 'none'
  private download_?: Transfer
  private closed = false
  constructor (r: GetReader, release: () => void, channel: Channel) {
    super()
    this.r = r
    this.release = release
    this.channel = channel
  }

  /** the object's plaintext size */
  size (): number { return this.r.size }
  async read (): Promise<Uint8Array | null> {
    if (this.via === 'download') throw withName(new SessionBusyError('this get gives its bytes to its download; read() is closed'))
    this.via = 'read'
    return await named(() => this.r.read())
  }

  /**
   * A ticket for reading the whole object as the body of one `GET <path>`
   * (`content-length`: the object's size). The get is closed when the
   * download ends, however it ends; `finish()` says how.
   */
  download (): { path: string, expiresAt: number, size: number } {
    if (this.via !== 'none' || this.closed) throw withName(new SessionBusyError(this.via === 'read' ? 'this get already gave bytes to read(); a download would miss them' : 'this get already has its download ticket'))
    this.via = 'download'
    this.download_ = transfer(this.channel, 'get', async (_req, res) => {
      return await sendDownload(res, async () => {
        const piece = await this.r.read()
        if (piece != null) this.channel.counters.downloadBytes += piece.length
        return piece
      }, this.r.size, { idleMs: this.channel.idleMs })
    }, () => {})
    this.download_.outcome.then(() => this.close(), () => this.close())
    return { path: this.download_.ticket.path, expiresAt: this.download_.ticket.expiresAt, size: this.r.size }
  }

  /** How the download ended: its bytes once the last one went out, else the get's (or the download's) error. */
  async finish (): Promise<{ bytes: number }> {
    if (this.download_ == null) throw withName(new SessionBusyError('finish() waits for a download: call download() first'))
    try {
      return { bytes: await named(() => this.download_!.outcome) }
    } finally {
      this.close()
    }
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.download_?.cancel(new DownloadAbortedError('the get was closed before its download ended'))
    this.r.close()
    this.release()
  }

  [Symbol.dispose] (): void { this.close() }
}

/** Dup a callback stub so it outlives the call that passed it; returns it and its disposer. */
function keep<F> (cb: F | undefined): { fn: F | undefined, release: () => void } {
  if (typeof cb !== 'function') return { fn: undefined, release: () => {} }
  const fn = (cb as unknown as { dup?: () => F }).dup?.() ?? cb
  return { fn, release: () => { (fn as unknown as { [Symbol.dispose]?: () => void })[Symbol.dispose]?.() } }
}

/** A live subscription handed to an admin client; disposing it unsubscribes. */
class AdminSubscription extends RpcTarget {
  private cancelFn?: () => void
  constructor (cancel: () => void) { super(); this.cancelFn = cancel }
  cancel (): void { this.cancelFn?.(); this.cancelFn = undefined }
  [Symbol.dispose] (): void { this.cancel() }
}

/**
 * Cap'n Web rebuilds only standard error classes on the client; keep our
 * error's name visible by putting it at the front of the message.
 */
async function named<T> (fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw withName(err as Error)
  }
}

/** Puts an error's name at the front of its message (what `named` does to what it catches). */
function withName (e: Error): Error {
  if (e?.name != null && e.name !== 'Error' && typeof e.message === 'string' && !e.message.startsWith(e.name)) e.message = `${e.name}: ${e.message}`
  return e
}

/** The admin capability: everything an authenticated operator may do. */
export class AdminApi extends RpcTarget {
  private readonly ops: AdminOps
  private readonly channel: Channel
  constructor (ops: AdminOps, channel: Channel = { desk: new TicketDesk(), counters: { uploadBytes: 0, downloadBytes: 0 } }) {
    super()
    this.ops = ops
    this.channel = channel
  }

  info (): unknown { return this.ops.info() }
  members (): unknown { return this.ops.members() }
  leases (): unknown { return this.ops.leases() }
  async stats (): Promise<unknown> {
    const s = await this.ops.stats()
    if (s == null || typeof s !== 'object') return s
    return { ...s, adminUploadBytes: this.channel.counters.uploadBytes, adminDownloadBytes: this.channel.counters.downloadBytes }
  }
  async publish (topic: string, data: Uint8Array | string): Promise<{ recipients: number }> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    if (!(bytes instanceof Uint8Array)) throw new TypeError('data must be bytes or a string')
    return await named(() => this.ops.publish(topic, bytes))
  }

  async subscribe (topic: string, callback: (msg: { topic: string, data: Uint8Array, from: string }) => void): Promise<AdminSubscription> {
    if (typeof callback !== 'function') throw new TypeError('subscribe needs a callback')
    // the stub must outlive this call: keep our own reference until cancelled
    const cb = (callback as unknown as { dup?: () => typeof callback }).dup?.() ?? callback
    const cancel = await named(() => this.ops.subscribe(topic, msg => {
      Promise.resolve(cb(msg)).catch(() => cancel())
    }))
    return new AdminSubscription(() => {
      cancel()
      ;(cb as unknown as { [Symbol.dispose]?: () => void })[Symbol.dispose]?.()
    })
  }

  async revokeLease (id: string): Promise<unknown> { return await named(() => this.ops.revokeLease(id)) }

  async submitJob (spec: JobSpec, onProgress?: (p: JobProgress) => void): Promise<JobReport> {
    if (spec == null || typeof spec !== 'object') throw new TypeError('submitJob takes { module, inputs, fuelLimit?, replicas?, quorum? }')
    const cb = typeof onProgress === 'function' ? ((onProgress as unknown as { dup?: () => typeof onProgress }).dup?.() ?? onProgress) : undefined
    try {
      // (a large output is named by its storage capability, not carried: the client reads it by the byte channel)
      return await named(() => this.ops.submitJob(spec, cb == null
        ? undefined
        : p => { Promise.resolve(cb(p)).catch(() => {}) }))
    } finally {
      ;(cb as unknown as { [Symbol.dispose]?: () => void } | undefined)?.[Symbol.dispose]?.()
    }
  }

  async procSpawn (spec: ProcSpec): Promise<ProcInfo> {
    if (spec == null || typeof spec !== 'object') throw new TypeError('procSpawn takes { module, input?, on?, topics?, fuelLimit? }')
    return await named(() => this.ops.procSpawn(spec))
  }

  async procList (): Promise<ProcInfo[]> { return await named(() => this.ops.procList()) }
  async procKill (id: string): Promise<ProcInfo> { return await named(() => this.ops.procKill(String(id))) }

  async procWait (id: string, onEvent?: (e: ProcEvent) => void): Promise<ProcInfo> {
    const cb = typeof onEvent === 'function' ? ((onEvent as unknown as { dup?: () => typeof onEvent }).dup?.() ?? onEvent) : undefined
    try {
      return await named(() => this.ops.procWait(String(id), cb == null ? undefined : e => { Promise.resolve(cb(e)).catch(() => {}) }))
    } finally {
      ;(cb as unknown as { [Symbol.dispose]?: () => void } | undefined)?.[Symbol.dispose]?.()
    }
  }

  async receipts (opts?: { limit?: number, job?: string }): Promise<ReceiptEntry[]> {
    const o = opts ?? {}
    if (o.limit != null && (!Number.isInteger(o.limit) || o.limit < 1)) throw new TypeError('limit must be a positive integer')
    return await named(() => this.ops.receipts({ limit: o.limit, job: typeof o.job === 'string' ? o.job : undefined }))
  }
  async shutdown (): Promise<void> { await this.ops.shutdown() }

  async storagePut (opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): Promise<AdminPut> {
    if (opts == null || typeof opts !== 'object') throw new TypeError('storagePut takes { redundancy, chunkSize?, pin? }')
    const cb = keep(onProgress)
    try {
      const w = await named(() => this.ops.storagePut(opts, cb.fn == null ? undefined : p => { Promise.resolve(cb.fn!(p)).catch(() => {}) }))
      const size = Number.isSafeInteger(opts.size) && (opts.size as number) >= 0 ? opts.size : undefined
      return new AdminPut(w, cb.release, this.channel, size)
    } catch (err) {
      cb.release()
      throw err
    }
  }

  async storageGet (cap: string, onProgress?: (p: StorageProgress) => void): Promise<AdminGet> {
    const cb = keep(onProgress)
    try {
      const r = await named(() => this.ops.storageGet(String(cap), cb.fn == null ? undefined : p => { Promise.resolve(cb.fn!(p)).catch(() => {}) }))
      return new AdminGet(r, cb.release, this.channel)
    } catch (err) {
      cb.release()
      throw err
    }
  }

  async storageStat (cap: string): Promise<StatResult> { return await named(() => this.ops.storageStat(String(cap))) }
  async storagePin (cap: string, pin: boolean): Promise<unknown> { return await named(() => this.ops.storagePin(String(cap), pin === true)) }
  async storageScrub (): Promise<ScrubReport> { return await named(() => this.ops.storageScrub()) }
  async storageHeld (): Promise<Holding[]> { return await named(() => this.ops.storageHeld()) }
  async jobs (): Promise<JobView[]> { return await named(() => this.ops.jobs()) }
}

/** The only object reachable without the token. */
export class AdminGate extends RpcTarget {
  private readonly token: Uint8Array
  private readonly api: AdminApi
  constructor (token: string, api: AdminApi) {
    super()
    this.token = new TextEncoder().encode(token)
    this.api = api
  }

  authenticate (token: string): AdminApi {
    const given = new TextEncoder().encode(typeof token === 'string' ? token : '')
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
      const e = new UnauthorizedError()
      e.message = `${e.name}: ${e.message}`
      throw e
    }
    return this.api
  }
}

/** A running admin endpoint. */
export interface AdminServer {
  url: string
  close (): Promise<void>
}

/** Options of {@link startAdminServer}. */
export interface AdminServerInit {
  /** 127.0.0.1 port (0 or none: any free port) */
  port?: number
  token: string
  ops: AdminOps
  log?: (m: string) => void
  /** how long a byte-channel ticket stays usable (default TICKET_TTL_MS) */
  ticketTtlMs?: number
  /** how long a transfer waits on its client (default CLIENT_IDLE_MS) */
  clientIdleMs?: number
}

/** Largest admin RPC message accepted (bytes): a job's module and inputs travel in one. */
const MAX_ADMIN_MESSAGE = 64 * 1024 * 1024

/**
 * Serve the admin API on 127.0.0.1. Browsers may only connect from loopback
 * pages (a WebSocket from any other web origin is refused at the upgrade).
 */
export async function startAdminServer (init: AdminServerInit): Promise<AdminServer> {
  const desk = new TicketDesk(init.ticketTtlMs)
  const api = new AdminApi(init.ops, { desk, idleMs: init.clientIdleMs, counters: { uploadBytes: 0, downloadBytes: 0 } })
  // RPC over the WebSocket; the byte channel's transfers (`/storage/…`, by ticket) as plain requests
  const server: Server = createServer({ requestTimeout: 0 }, (req, res) => {
    if (serveTransfer(desk, req, res)) return
    res.writeHead(426).end('webfabric admin: WebSocket only\n')
  })
  const wss = new WebSocketServer({
    server,
    maxPayload: MAX_ADMIN_MESSAGE,
    verifyClient: ({ req }: { req: IncomingMessage }) => isLoopbackOrigin(req.headers.origin)
  })
  wss.on('connection', ws => {
    ws.on('error', () => ws.terminate())
    newWebSocketRpcSession(ws as unknown as WebSocket, new AdminGate(init.token, api))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: async () => {
      desk.close()
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** Connect to a node's admin API and authenticate. Dispose the stub to close. */
export async function connectAdmin (url: string, token: string): Promise<{ api: AdminClient, close: () => void, url: string }> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true })
    ws.addEventListener('error', () => reject(new Error(`cannot reach the node's admin API at ${url}: is the node running?`)), { once: true })
  })
  const gate = newWebSocketRpcSession<AdminGate>(ws)
  const api = gate.authenticate(token) as unknown as AdminClient
  // surface a bad token now rather than on first use
  await (api as unknown as { info: () => Promise<unknown> }).info()
  return { api, url, close: () => { (gate as unknown as Disposable)[Symbol.dispose](); ws.close() } }
}

/** What `info()` returns. */
export interface NodeInfo {
  peerId: string
  did: string
  origin: string
  manifest: { name: string, version: number }
  roles: string[]
  addrs: string[]
  pid: number
}

/** One member as `members()` returns it. */
export type MemberSummary = MemberView

/** One lease as `leases()` returns it (a LeaseSummary plus its state). */
export interface LeaseView { id: string, kind: string, revoked: boolean, [key: string]: unknown }

/** The admin API as a client sees it (every call is async). */
export interface AdminClient {
  info (): Promise<NodeInfo>
  members (): Promise<MemberSummary[]>
  leases (): Promise<LeaseView[]>
  stats (): Promise<Record<string, number>>
  publish (topic: string, data: Uint8Array | string): Promise<{ recipients: number }>
  subscribe (topic: string, cb: (msg: { topic: string, data: Uint8Array, from: string }) => void): Promise<{ cancel (): Promise<void> }>
  revokeLease (id: string): Promise<{ revoked: string }>
  shutdown (): Promise<void>
  submitJob (spec: JobSpec, onProgress?: (p: JobProgress) => void): Promise<JobReport>
  jobs (): Promise<JobView[]>
  receipts (opts?: { limit?: number, job?: string }): Promise<ReceiptEntry[]>
  procSpawn (spec: ProcSpec): Promise<ProcInfo>
  procList (): Promise<ProcInfo[]>
  procKill (id: string): Promise<ProcInfo>
  procWait (id: string, onEvent?: (e: ProcEvent) => void): Promise<ProcInfo>
  storagePut (opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): Promise<AdminPutClient>
  storageGet (cap: string, onProgress?: (p: StorageProgress) => void): Promise<AdminGetClient>
  storageStat (cap: string): Promise<StatResult>
  storagePin (cap: string, pin: boolean): Promise<{ root: string, pinned: boolean, holders: number, answered: number }>
  storageScrub (): Promise<ScrubReport>
  storageHeld (): Promise<Holding[]>
}

/** A put session as its client sees it: write() pieces, or upload() once and send the body (`uploadBody`); then finish(). */
export interface AdminPutClient {
  write (b: Uint8Array): Promise<void>
  upload (): Promise<{ path: string, expiresAt: number }>
  finish (): Promise<PutResult>
  abort (reason?: string): Promise<void>
}

/** A get session as its client sees it: read() pieces, or download() once and read the body (`downloadBody`); finish() says how it ended. */
export interface AdminGetClient {
  size (): Promise<number>
  read (): Promise<Uint8Array | null>
  download (): Promise<{ path: string, expiresAt: number, size: number }>
  finish (): Promise<{ bytes: number }>
  close (): Promise<void>
}

export { CLIENT_IDLE_MS, TICKET_TTL_MS, downloadBody, transferUrl, uploadBody } from './admin-channel.ts'
