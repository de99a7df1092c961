// The node's web front: it serves the app cross-origin isolated under a strict
// CSP, never a file outside the app's directory, the signed manifest, and
// enrolment — which checks the request's size and shape, is rate-limited, and
// on a real node delegates only membership, for no longer than asked.
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { IDENTITY_ROTATION_MS, Keyring, decodeCapability, epochAt, fromBase64url, signedManifestToJSON } from '@webfabric/protocol'
import { type FabricNode, MEMBERSHIP_NEED } from '@webfabric/runtime'
import { SECURITY_HEADERS, type WebGateway, startWebGateway } from '../src/web-gateway.ts'
import { JOIN_PATH, MANIFEST_PATH } from '../src/web-wire.ts'
import { type TestOrigin, makeOrigin, startNode } from './fixtures.ts'

const post = async (base: string, body: string, type = 'application/json'): Promise<Response> =>
  await fetch(new URL(JOIN_PATH, base), { method: 'POST', headers: { 'content-type': type }, body })

describe('web gateway', () => {
  let origin: TestOrigin
  let root: string
  let gw: WebGateway
  const enrolled: string[] = []

  before(async () => {
    origin = await makeOrigin()
    root = join(origin.dir, 'dist')
    await mkdir(join(root, 'assets'), { recursive: true })
    await writeFile(join(root, 'index.html'), '<!doctype html><title>app</title>')
    await writeFile(join(root, 'assets', 'app-1234.js'), 'export {}')
    await writeFile(join(origin.dir, 'secret.txt'), 'outside the app')
    gw = await startWebGateway({
      root,
      manifest: signedManifestToJSON(origin.manifest),
      enrolPerClientPerMinute: 6,
      // one rate-limit window for the whole test
      now: () => 0,
      enrol: async req => {
        if (req.durationMs === 1234) throw new Error('no tabs today')
        enrolled.push(req.did)
        return { credentials: [], expiresAt: Date.now() + req.durationMs, bootstrap: [] }
      }
    })
  })

  after(async () => {
    await gw?.close()
    await origin?.cleanup()
  })

  it('serves the app on / and /dashboard, cross-origin isolated, with a CSP', async () => {
    for (const path of ['/', '/dashboard']) {
      const res = await fetch(new URL(path, gw.url))
      assert.equal(res.status, 200)
      assert.match(await res.text(), /<title>app<\/title>/)
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) assert.equal(res.headers.get(k), v, `${path} ${k}`)
    }
    const asset = await fetch(new URL('/assets/app-1234.js', gw.url))
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8')
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/)
  })

  it('never serves a file outside the app\'s directory', async () => {
    for (const path of ['/../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt', '/nope.js', '/assets']) {
      const res = await fetch(new URL(path, gw.url).toString().replace('/secret.txt', '/secret.txt'))
      assert.equal(res.status, 404, path)
      assert.doesNotMatch(await res.text(), /outside the app/)
    }
  })

  it('serves the signed manifest', async () => {
    const res = await fetch(new URL(MANIFEST_PATH, gw.url))
    assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(signedManifestToJSON(origin.manifest))))
  })

  it('refuses a malformed, oversized or refused enrolment by name, and rate-limits each client', async () => {
    const keyring = await Keyring.generate()
    const did = (await keyring.identityFor(origin.identity.did, 1)).did
    const cases: Array<[() => Promise<Response>, number, string]> = [
      [async () => await post(gw.url, '{"did":"did:key:nope","durationMs":1000}'), 400, 'MalformedError'],
      [async () => await post(gw.url, JSON.stringify({ did, durationMs: -1 })), 400, 'MalformedError'],
      [async () => await post(gw.url, JSON.stringify({ did, durationMs: 1000, extra: 1 })), 400, 'MalformedError'],
      [async () => await post(gw.url, 'not json'), 400, 'MalformedError'],
      [async () => await post(gw.url, JSON.stringify({ did, durationMs: 1000 }), 'text/plain'), 415, 'UnsupportedMediaTypeError'],
      [async () => await post(gw.url, JSON.stringify({ did, durationMs: 1000, pad: 'x'.repeat(10_000) })), 413, 'TooLargeError'],
      [async () => await post(gw.url, JSON.stringify({ did, durationMs: 1234 })), 403, 'JoinRefusedError']
    ]
    for (const [request, status, name] of cases) {
      const res = await request()
      assert.equal(res.status, status, name)
      assert.equal(((await res.json()) as { error: { name: string } }).error.name, name)
    }
    assert.deepEqual(enrolled, [], 'nothing malformed was enrolled')
    // 6 per client per minute; the cases above used all 6 (the 415 is refused before counting)
    const res = await post(gw.url, JSON.stringify({ did, durationMs: 1000 }))
    assert.equal(res.status, 429)
    assert.equal(((await res.json()) as { error: { name: string } }).error.name, 'RateLimitedError')
  })
})

describe('enrolment on a node serving the web app', () => {
  let origin: TestOrigin
  let node: FabricNode

  before(async () => {
    origin = await makeOrigin()
    const root = join(origin.dir, 'dist')
    await mkdir(root, { recursive: true })
    await writeFile(join(root, 'index.html'), '<!doctype html><title>app</title>')
    node = await startNode(origin, { rendezvous: true, roles: ['rendezvous'], web: { root } })
  })

  after(async () => {
    await node?.stop()
    await origin?.cleanup()
  })

  it('delegates membership to the tab\'s identity for no longer than asked, and gives WebSocket bootstrap addresses', async () => {
    const keyring = await Keyring.generate()
    const id = await keyring.identityFor(origin.identity.did, epochAt(Date.now(), IDENTITY_ROTATION_MS))
    const before = Date.now()
    const res = await post(node.webUrl!, JSON.stringify({ did: id.did, durationMs: 600_000 }))
    assert.equal(res.status, 200)
    const grant = await res.json() as { credentials: string[], expiresAt: number, bootstrap: string[] }
    assert.equal(grant.credentials.length, 1)
    const cap = await decodeCapability(fromBase64url(grant.credentials[0]))
    assert.equal(cap.payload.aud, id.did)
    assert.deepEqual(cap.payload.can, [MEMBERSHIP_NEED.ability])
    assert.equal(cap.payload.res, MEMBERSHIP_NEED.resource)
    assert.ok(cap.payload.exp <= before + 600_000 + 5000 && cap.payload.exp === grant.expiresAt)
    assert.ok(grant.bootstrap.length > 0 && grant.bootstrap.every(a => a.includes('/ws/') && a.endsWith(`/p2p/${node.peerId}`)))
  })
})
