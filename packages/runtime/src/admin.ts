// The node's admin API for the CLI (and later the dashboard): object-capability
// RPC (Cap'n Web) over a WebSocket bound to loopback. The only thing an
// unauthenticated client can reach is `AdminGate.authenticate(token)`, which
// hands back the admin object; without the token there is nothing to call.
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { RpcTarget, newWebSocketRpcSession } from 'capnweb'
import { WebSocketServer } from 'ws'
import { UnauthorizedError } from './errors.ts'
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

/** A put in progress, held by the admin client that started it. */
class AdminPut extends RpcTarget {
  private readonly w: PutWriter
  private readonly release: () => void
  constructor (w: PutWriter, release: () => void) { super(); this.w = w; this.release = release }
  async write (bytes: Uint8Array): Promise<void> { await named(() => this.w.write(bytes)) }
  async finish (): Promise<PutResult> {
    try {
      return await named(() => this.w.finish())
    } finally {
      this.release()
    }
  }

  abort (reason?: string): void { this.w.abort(typeof reason === 'string' ? reason : undefined); this.release() }
  [Symbol.dispose] (): void { this.w.abort('the client went away'); this.release() }
}

/** A get in progress, held by the admin client that opened it. */
class AdminGet extends RpcTarget {
  private readonly r: GetReader
  private readonly release: () => void
  constructor (r: GetReader, release: () => void) { super(); this.r = r; this.release = release }
  /** the object's plaintext size */
  size (): number { return this.r.size }
  async read (): Promise<Uint8Array | null> { return await named(() => this.r.read()) }
  close (): void { this.r.close(); this.release() }
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
    const e = err as Error
    if (e?.name != null && e.name !== 'Error' && !e.message.startsWith(e.name)) e.message = `${e.name}: ${e.message}`
    throw e
  }
}

/** The admin capability: everything an authenticated operator may do. */
export class AdminApi extends RpcTarget {
  private readonly ops: AdminOps
  constructor (ops: AdminOps) { super(); this.ops = ops }
  info (): unknown { return this.ops.info() }
  members (): unknown { return this.ops.members() }
  leases (): unknown { return this.ops.leases() }
  stats (): unknown { return this.ops.stats() }
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
    const w = await named(() => this.ops.storagePut(opts, cb.fn == null ? undefined : p => { Promise.resolve(cb.fn!(p)).catch(() => {}) }))
    return new AdminPut(w, cb.release)
  }

  async storageGet (cap: string, onProgress?: (p: StorageProgress) => void): Promise<AdminGet> {
    const cb = keep(onProgress)
    try {
      const r = await named(() => this.ops.storageGet(String(cap), cb.fn == null ? undefined : p => { Promise.resolve(cb.fn!(p)).catch(() => {}) }))
      return new AdminGet(r, cb.release)
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

/** Largest admin RPC message accepted (bytes): a job's module and inputs travel in one. */
const MAX_ADMIN_MESSAGE = 64 * 1024 * 1024

/**
 * Serve the admin API on 127.0.0.1. Browsers may only connect from loopback
 * pages (a WebSocket from any other web origin is refused at the upgrade).
 */
export async function startAdminServer (init: { port?: number, token: string, ops: AdminOps, log?: (m: string) => void }): Promise<AdminServer> {
  const api = new AdminApi(init.ops)
  const server: Server = createServer((_req, res) => { res.writeHead(426).end('webfabric admin: WebSocket only\n') })
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
      for (const c of wss.clients) c.terminate()
      wss.close()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function isLoopbackOrigin (origin: string | undefined): boolean {
  if (origin == null) return true // not a browser
  try {
    const host = new URL(origin).hostname
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]'
  } catch {
    return false
  }
}

/** Connect to a node's admin API and authenticate. Dispose the stub to close. */
export async function connectAdmin (url: string, token: string): Promise<{ api: AdminClient, close: () => void }> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true })
    ws.addEventListener('error', () => reject(new Error(`cannot reach the node's admin API at ${url}: is the node running?`)), { once: true })
  })
  const gate = newWebSocketRpcSession<AdminGate>(ws)
  const api = gate.authenticate(token) as unknown as AdminClient
  // surface a bad token now rather than on first use
  await (api as unknown as { info: () => Promise<unknown> }).info()
  return { api, close: () => { (gate as unknown as Disposable)[Symbol.dispose](); ws.close() } }
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
  storagePut (opts: PutSessionOptions, onProgress?: (p: StorageProgress) => void): Promise<{ write (b: Uint8Array): Promise<void>, finish (): Promise<PutResult>, abort (reason?: string): Promise<void> }>
  storageGet (cap: string, onProgress?: (p: StorageProgress) => void): Promise<{ size (): Promise<number>, read (): Promise<Uint8Array | null>, close (): Promise<void> }>
  storageStat (cap: string): Promise<StatResult>
  storagePin (cap: string, pin: boolean): Promise<{ root: string, pinned: boolean, holders: number, answered: number }>
  storageScrub (): Promise<ScrubReport>
  storageHeld (): Promise<Holding[]>
}
