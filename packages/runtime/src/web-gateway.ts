// The node's web front (`webfabric start --web`): serves the participant page
// and the dashboard (the built apps/web), the origin's signed manifest, and
// enrolment of tabs (web-wire.ts). Every response is cross-origin isolated
// (the sandbox domains need SharedArrayBuffer) and carries a strict CSP.
// Enrolment is open — anyone who can load the page may lend their device — so
// it is rate-limited per client address and in total, and what it grants is
// only membership, for no longer than the lease the person chose.
import { readFile, realpath, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, resolve, sep } from 'node:path'
import { type SignedManifestJSON, isEd25519Did } from '@webfabric/protocol'
import { type ErrorResponse, JOIN_PATH, type JoinRequest, type JoinResponse, MANIFEST_PATH, MAX_JOIN_BODY } from './web-wire.ts'

/** Options of {@link startWebGateway}. */
export interface WebGatewayInit {
  /** the built app (apps/web/dist): index.html and assets/ */
  root: string
  /** interface to listen on (default 127.0.0.1) and port (default 0: any free port) */
  host?: string
  port?: number
  manifest: SignedManifestJSON
  /** enrols a tab's identity; throws with a message for the person when it will not */
  enrol: (req: JoinRequest) => Promise<JoinResponse>
  /** enrolments allowed per client address per minute (default 30) and in total per minute (default 600) */
  enrolPerClientPerMinute?: number
  enrolPerMinute?: number
  log?: (msg: string) => void
  /** clock of the rate limit, for tests */
  now?: () => number
}

/** A running web gateway. */
export interface WebGateway {
  /** base URL, e.g. http://127.0.0.1:8080/ */
  url: string
  close: () => Promise<void>
}

/** Paths the single-page app answers (everything else is a file or 404). */
const APP_ROUTES = new Set(['/', '/index.html', '/dashboard', '/dashboard/'])

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8'
}

/** Headers on every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer'
}

class HttpError extends Error {
  readonly status: number
  constructor (status: number, name: string, message: string) {
    super(message)
    this.status = status
    this.name = name
  }
}

/** A fixed-window counter per key. */
class RateLimit {
  private readonly perKey: number
  private readonly total: number
  private window = 0
  private counts = new Map<string, number>()
  private sum = 0

  constructor (perKey: number, total: number) {
    this.perKey = perKey
    this.total = total
  }

  take (key: string, now: number): boolean {
    const w = Math.floor(now / 60_000)
    if (w !== this.window) { this.window = w; this.counts = new Map(); this.sum = 0 }
    const n = this.counts.get(key) ?? 0
    if (n >= this.perKey || this.sum >= this.total) return false
    this.counts.set(key, n + 1)
    this.sum++
    return true
  }
}

/** The fields a join request may have. */
const JOIN_KEYS = new Set(['did', 'durationMs', 'storageMiB'])

/** Serve the app, the manifest and enrolment. */
export async function startWebGateway (init: WebGatewayInit): Promise<WebGateway> {
  const root = await realpath(resolve(init.root))
  const index = join(root, 'index.html')
  try { await stat(index) } catch { throw new Error(`${init.root} holds no index.html: build the web app first (node apps/web/build.ts)`) }
  const limit = new RateLimit(init.enrolPerClientPerMinute ?? 30, init.enrolPerMinute ?? 600)
  const manifest = JSON.stringify(init.manifest)

  const send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra }).end(body)
  }
  const sendError = (res: ServerResponse, err: unknown): void => {
    const e = err instanceof HttpError ? err : new HttpError(500, 'Error', 'the node failed to answer; see its log')
    if (!(err instanceof HttpError)) init.log?.(`web: ${(err as Error).message}`)
    const body: ErrorResponse = { error: { name: e.name, message: e.message } }
    send(res, e.status, 'application/json', JSON.stringify(body), { 'cache-control': 'no-store' })
  }

  const readBody = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) {
      size += (chunk as Buffer).byteLength
      if (size > MAX_JOIN_BODY) throw new HttpError(413, 'TooLargeError', `a join request is at most ${MAX_JOIN_BODY} bytes`)
      chunks.push(chunk as Buffer)
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  const join_ = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowedError', `${JOIN_PATH} takes POST`)
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'UnsupportedMediaTypeError', 'send the join request as application/json')
    if (!limit.take(req.socket.remoteAddress ?? '?', (init.now ?? Date.now)())) throw new HttpError(429, 'RateLimitedError', 'too many tabs joined from here in the last minute; try again shortly')
    let body: unknown
    try { body = JSON.parse(await readBody(req)) } catch (err) {
      if (err instanceof HttpError) throw err
      throw new HttpError(400, 'MalformedError', 'the join request is not JSON')
    }
    const r = body as Partial<JoinRequest>
    if (r == null || typeof r !== 'object' || Object.keys(r).some(k => !JOIN_KEYS.has(k))) throw new HttpError(400, 'MalformedError', 'a join request is { did, durationMs, storageMiB? }')
    if (!isEd25519Did(r.did)) throw new HttpError(400, 'MalformedError', 'did must be the tab\'s Ed25519 did:key')
    if (typeof r.durationMs !== 'number' || !Number.isInteger(r.durationMs) || r.durationMs <= 0) throw new HttpError(400, 'MalformedError', 'durationMs must be a positive integer (ms)')
    const storageMiB = r.storageMiB ?? 0
    if (typeof storageMiB !== 'number' || !Number.isInteger(storageMiB) || storageMiB < 0 || storageMiB > init.manifest.manifest.qos.storageMiB) {
      throw new HttpError(400, 'MalformedError', `storageMiB must be an integer from 0 to the manifest's ${init.manifest.manifest.qos.storageMiB}`)
    }
    let granted: JoinResponse
    try {
      granted = await init.enrol({ did: r.did, durationMs: r.durationMs, storageMiB })
    } catch (err) {
      throw new HttpError(403, 'JoinRefusedError', (err as Error).message)
    }
    send(res, 200, 'application/json', JSON.stringify(granted), { 'cache-control': 'no-store' })
  }

  const file = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'MethodNotAllowedError', 'the app takes GET')
    let target: string
    if (APP_ROUTES.has(path)) {
      target = index
    } else {
      let decoded: string
      try { decoded = decodeURIComponent(path) } catch { throw new HttpError(400, 'MalformedError', 'bad path') }
      if (decoded.includes('\0')) throw new HttpError(400, 'MalformedError', 'bad path')
      target = resolve(root, `.${decoded}`)
      // nothing outside the app's directory, whatever the path says (symlinks included)
      if (!target.startsWith(root + sep)) throw new HttpError(404, 'NotFoundError', 'no such file')
      try { target = await realpath(target) } catch { throw new HttpError(404, 'NotFoundError', 'no such file') }
      if (!target.startsWith(root + sep) || !(await stat(target)).isFile()) throw new HttpError(404, 'NotFoundError', 'no such file')
    }
    const bytes = await readFile(target)
    const type = TYPES[extname(target)] ?? 'application/octet-stream'
    // hashed asset names never change; the page itself is always fetched fresh
    const cache = target === index ? 'no-cache' : path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
    if (req.method === 'HEAD') { res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cache }).end(); return }
    send(res, 200, type, bytes, { 'cache-control': cache })
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0].split('#')[0]
    void (async () => {
      if (path === MANIFEST_PATH) {
        if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowedError', `${MANIFEST_PATH} takes GET`)
        send(res, 200, 'application/json', manifest, { 'cache-control': 'no-cache' })
      } else if (path === JOIN_PATH) {
        await join_(req, res)
      } else {
        await file(req, res, path)
      }
    })().catch(err => {
      if (!res.headersSent) sendError(res, err)
      else res.destroy()
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(init.port ?? 0, init.host ?? '127.0.0.1', () => { server.off('error', fail); ok() })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    url: `http://${host}:${addr.port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(ok => server.close(() => ok()))
    }
  }
}
