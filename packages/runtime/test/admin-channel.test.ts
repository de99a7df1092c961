// The admin API's byte channel, over real sockets: a storage client node
// (admin API on) and three holders on real libp2p with on-disk blockstores.
// Puts and gets through the channel come back byte-identical; every request
// without a live ticket is refused by name and reaches nothing; a cut upload
// aborts its put and leaves nothing held; the RPC write/read path still works.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { FabricNode } from '@webfabric/runtime'
import { type AdminClient, connectAdmin, downloadBody, transferUrl, uploadBody } from '@webfabric/runtime/admin'
import type { QuotaBlockstore } from '@webfabric/storage'
import { type TestOrigin, bytesOf, holderNode, makeOrigin, sleep, storageClient, waitFor } from './fixtures.ts'

const MiB = 2 ** 20
const TTL = 1500

/** assert.rejects for a Cap'n Web call (an RpcPromise is a thenable, not a Promise). */
async function rpcRejects (p: PromiseLike<unknown>, expected: RegExp): Promise<void> {
  await assert.rejects(async () => { await p }, expected)
}

/** Every byte of a download's body. */
async function bodyOf (adminUrl: string, path: string): Promise<Uint8Array> {
  const res = await downloadBody(adminUrl, path)
  const parts: Buffer[] = []
  for await (const p of res as AsyncIterable<Buffer>) parts.push(p)
  return new Uint8Array(Buffer.concat(parts))
}

/** A raw request: its status, headers and body (the body as text). */
async function raw (url: URL | string, init: { method?: string, headers?: Record<string, string>, body?: Uint8Array } = {}): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, res => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString('utf8') })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

describe('the admin byte channel (real sockets, real holders)', () => {
  let origin: TestOrigin
  let client: FabricNode
  const holders: FabricNode[] = []
  let api: AdminClient
  let close: () => void
  let url: string

  before(async () => {
    origin = await makeOrigin()
    client = await storageClient(origin, { admin: { port: 0, ticketTtlMs: TTL } })
    for (let i = 0; i < 3; i++) holders.push(await holderNode(origin, client.addrs()))
    await waitFor('the client sees 3 storage members', () => client.storage!.service.storageMembers().length === 3)
    ;({ api, close, url } = await connectAdmin(client.adminUrl!, client.adminToken!))
  })

  after(async () => {
    close?.()
    for (const n of [...holders, client]) await n?.stop()
    await origin?.cleanup()
  })

  const held = (): number[] => holders.map(h => h.storage!.service.held().length)
  const quotaUsed = async (): Promise<number[]> => await Promise.all(holders.map(async h => (await (h.storage!.store as QuotaBlockstore).usage()).used))

  it('puts 12 MiB through an upload and gets it back through a download, byte-identical, with progress over RPC', async () => {
    const data = bytesOf(12 * MiB + 4321, 17)
    const progress: number[] = []
    const writer = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: data.length }, p => { progress.push(p.bytes) })
    const { path, expiresAt } = await writer.upload()
    assert.match(path, /^\/storage\/put\/[A-Za-z0-9_-]{43}$/)
    assert.ok(expiresAt > Date.now())
    // in pieces that do not line up with anything
    const pieces = function * (): Generator<Uint8Array> { for (let i = 0; i < data.length; i += 777_777) yield data.slice(i, i + 777_777) }
    assert.deepEqual(await uploadBody(url, path, pieces(), data.length), { bytes: data.length })
    const r = await writer.finish()
    assert.equal(r.size, data.length)
    assert.equal(r.holders.length, 3)
    await waitFor('the last progress report', () => progress.at(-1) === data.length, 5000)

    const got: Array<{ bytes: number, total?: number }> = []
    const reader = await api.storageGet(r.cap, p => { got.push(p) })
    const d = await reader.download()
    assert.equal(d.size, data.length)
    const back = await bodyOf(url, d.path)
    assert.deepEqual(await reader.finish(), { bytes: data.length })
    assert.equal(back.length, data.length)
    assert.ok(Buffer.from(back).equals(Buffer.from(data)), 'the bytes came back the same')
    await waitFor('get progress', () => got.at(-1)?.bytes === data.length, 5000)
    const stats = await api.stats() as Record<string, number>
    assert.ok(stats.adminUploadBytes >= data.length && stats.adminDownloadBytes >= data.length, JSON.stringify(stats))
  })

  it('keeps the RPC path: an object written with write() is read by a download, and one uploaded is read with read()', async () => {
    const a = bytesOf(3 * MiB + 5, 3)
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 } })
    await w.write(a.slice(0, 2 * MiB))
    await w.write(a.slice(2 * MiB))
    const ra = await w.finish()
    const ga = await api.storageGet(ra.cap)
    assert.ok(Buffer.from(await bodyOf(url, (await ga.download()).path)).equals(Buffer.from(a)))

    const b = bytesOf(2 * MiB + 9, 4)
    const u = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 } })
    await uploadBody(url, (await u.upload()).path, [b], b.length)
    const rb = await u.finish()
    const gb = await api.storageGet(rb.cap)
    const parts: Uint8Array[] = []
    for (let p = await gb.read(); p != null; p = await gb.read()) parts.push(p)
    await gb.close()
    assert.ok(Buffer.concat(parts).equals(Buffer.from(b)))
  })

  it('an empty object goes through the channel both ways', async () => {
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 1 }, size: 0 })
    assert.deepEqual(await uploadBody(url, (await w.upload()).path, [], 0), { bytes: 0 })
    const r = await w.finish()
    const g = await api.storageGet(r.cap)
    assert.equal((await bodyOf(url, (await g.download()).path)).length, 0)
    assert.deepEqual(await g.finish(), { bytes: 0 })
  })

  it('refuses by name every request without a live ticket, and such requests reach nothing', async () => {
    const base = transferUrl(url, `/storage/put/${'A'.repeat(43)}`)
    const at = (p: string): URL => new URL(p, base)
    const body = new Uint8Array(1000)
    const expect = (r: { status: number, body: string, headers: Record<string, unknown> }, status: number, name: string): void => {
      assert.equal(r.status, status, r.body)
      assert.equal(JSON.parse(r.body).error, name)
      assert.equal(r.headers['webfabric-error'], name)
    }
    // no ticket, a malformed one, an unknown one of the right shape, a path with extra parts
    for (const p of ['/storage/', '/storage/put/', '/storage/put/abc', `/storage/put/${randomBytes(32).toString('base64url')}`, `/storage/put/${randomBytes(32).toString('base64url')}/x`, `/storage/put/${randomBytes(32).toString('base64url')}?a=1`]) {
      expect(await raw(at(p), { method: 'PUT', headers: { 'content-length': '1000' }, body }), 404, 'TicketRefusedError')
    }
    expect(await raw(at(`/storage/get/${randomBytes(32).toString('base64url')}`)), 404, 'TicketRefusedError')
    // anything else on the server is still "WebSocket only"
    assert.equal((await raw(at('/'))).status, 426)

    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 }, size: 1000 })
    const { path } = await w.upload()
    // the wrong method, the wrong kind of path, a web origin that is not loopback, a host that is not: refused, ticket kept
    expect(await raw(at(path), { method: 'POST', headers: { 'content-length': '1000' }, body }), 405, 'MethodNotAllowedError')
    expect(await raw(at(path.replace('/put/', '/get/'))), 404, 'TicketRefusedError')
    expect(await raw(at(path), { method: 'PUT', headers: { 'content-length': '1000', origin: 'https://evil.example' }, body }), 403, 'ForbiddenOriginError')
    expect(await raw(at(path), { method: 'PUT', headers: { 'content-length': '1000', host: 'evil.example' }, body }), 403, 'ForbiddenOriginError')
    // the right request, then the same ticket again
    assert.equal((await raw(at(path), { method: 'PUT', headers: { 'content-length': '1000' }, body })).status, 200)
    expect(await raw(at(path), { method: 'PUT', headers: { 'content-length': '1000' }, body }), 404, 'TicketRefusedError')
    const r = await w.finish()
    assert.equal(r.size, 1000)
    // a ticket twice, for a download
    const g = await api.storageGet(r.cap)
    const d = await g.download()
    assert.equal((await bodyOf(url, d.path)).length, 1000)
    await assert.rejects(bodyOf(url, d.path), { name: 'TicketRefusedError' })
  })

  it('an expired ticket is refused, and its put is aborted with TicketExpiredError and holds nothing', async () => {
    const before = held()
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: 10 })
    const { path } = await w.upload()
    await sleep(TTL + 300)
    await assert.rejects(uploadBody(url, path, [new Uint8Array(10)], 10), { name: 'TicketRefusedError' })
    await rpcRejects(w.finish(), /TicketExpiredError/)
    assert.deepEqual(held(), before)
    const g = await api.storageGet((await (async () => {
      const p = await api.storagePut({ redundancy: { kind: 'replicas', r: 1 } })
      await p.write(new Uint8Array(5))
      return await p.finish()
    })()).cap)
    await g.download()
    await sleep(TTL + 300)
    await rpcRejects(g.finish(), /TicketExpiredError/)
  })

  it('refuses an upload without a Content-Length, longer than its put declared, or shorter — and aborts that put', async () => {
    const cases: Array<{ headers: Record<string, string>, body: Uint8Array, status: number, name: string }> = [
      { headers: { 'transfer-encoding': 'chunked' }, body: new Uint8Array(100), status: 411, name: 'LengthRequiredError' },
      { headers: { 'content-length': '101' }, body: new Uint8Array(101), status: 413, name: 'MessageTooLargeError' },
      { headers: { 'content-length': '99' }, body: new Uint8Array(99), status: 400, name: 'SizeMismatchError' }
    ]
    // no declared size: the Content-Length is the size, up to MAX_UPLOAD_BYTES
    cases.push({ headers: { 'content-length': String(2 ** 40 + 1) }, body: new Uint8Array(0), status: 413, name: 'MessageTooLargeError' })
    for (const c of cases) {
      const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 }, ...(c.body.length > 0 ? { size: 100 } : {}) })
      const { path } = await w.upload()
      const r = await raw(transferUrl(url, path), { method: 'PUT', headers: c.headers, body: c.body })
      assert.equal(r.status, c.status, r.body)
      assert.equal(JSON.parse(r.body).error, c.name)
      await rpcRejects(w.finish(), new RegExp(c.name))
    }
  })

  it('an upload cut midway aborts its put: finish() says so, nothing is acknowledged, held or left in any quota', async () => {
    const heldBefore = held()
    const quotaBefore = await quotaUsed()
    const size = 8 * MiB
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size })
    const { path } = await w.upload()
    const port = Number(new URL(url).port)
    const sock = connect(port, '127.0.0.1')
    await new Promise(resolve => sock.once('connect', resolve))
    sock.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${size}\r\n\r\n`)
    for (let i = 0; i < 5; i++) await new Promise(resolve => sock.write(bytesOf(MiB, i), resolve))
    // the put has shipped blocks to its holders by now; then the connection is cut
    await waitFor('the put\'s first blocks on the holders', async () => (await quotaUsed()).every((u, i) => u > quotaBefore[i]), 15000)
    sock.destroy()
    await rpcRejects(w.finish(), /UploadAbortedError/)
    assert.deepEqual(held(), heldBefore)
    await waitFor('the cut put\'s blocks are collected', async () => (await quotaUsed()).every((u, i) => u === quotaBefore[i]), 15000)
    // the node keeps serving: the next upload goes through
    const again = await api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: 1000 })
    await uploadBody(url, (await again.upload()).path, [bytesOf(1000, 1)], 1000)
    assert.equal((await again.finish()).size, 1000)
  })

  it('a download cut midway closes its get and finish() says so; the node keeps serving', async () => {
    const data = bytesOf(6 * MiB, 8)
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 }, size: data.length })
    await uploadBody(url, (await w.upload()).path, [data], data.length)
    const { cap } = await w.finish()
    const g = await api.storageGet(cap)
    const res = await downloadBody(url, (await g.download()).path)
    await new Promise(resolve => res.once('data', resolve))
    res.destroy()
    await rpcRejects(g.finish(), /DownloadAbortedError/)
    const again = await api.storageGet(cap)
    assert.ok(Buffer.from(await bodyOf(url, (await again.download()).path)).equals(Buffer.from(data)))
  })

  it('a session takes its bytes one way only (SessionBusyError), and closing the RPC session ends its transfer', async () => {
    const w = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 } })
    await w.write(new Uint8Array(10))
    await rpcRejects(w.upload(), /SessionBusyError/)
    await w.abort()
    const u = await api.storagePut({ redundancy: { kind: 'replicas', r: 2 } })
    await u.upload()
    await rpcRejects(u.write(new Uint8Array(10)), /SessionBusyError/)
    await rpcRejects(u.upload(), /SessionBusyError/)
    await u.abort()

    // a second admin connection starts an upload and goes away mid-body: the upload is cut, the put aborted
    const heldBefore = held()
    const other = await connectAdmin(client.adminUrl!, client.adminToken!)
    const p = await other.api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: 64 * MiB })
    const { path } = await p.upload()
    let sent = 0
    const slow = async function * (): AsyncGenerator<Uint8Array> {
      for (; sent < 64 * MiB; sent += MiB) {
        if (sent === 3 * MiB) other.close()
        yield bytesOf(MiB, sent)
        await sleep(20)
      }
    }
    const quotaBefore = await quotaUsed()
    await assert.rejects(uploadBody(url, path, slow(), 64 * MiB))
    assert.ok(sent < 64 * MiB)
    assert.deepEqual(held(), heldBefore)
    await waitFor('the cut put\'s blocks are collected', async () => (await quotaUsed()).every((u, i) => u <= quotaBefore[i]), 15000)
  })
})
