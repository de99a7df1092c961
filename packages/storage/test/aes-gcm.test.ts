// Chunk encryption in Node (node:crypto) and in browsers (WebCrypto) is one
// format: each seals the same bytes and opens the other's, and both refuse a
// tampered, truncated or short-tagged ciphertext without releasing plaintext.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as web from '../src/object/aes-gcm.browser.ts'
import * as node from '../src/object/aes-gcm.ts'

const key = Uint8Array.from({ length: 32 }, (_, i) => i)
const iv = Uint8Array.from({ length: 12 }, (_, i) => 100 + i)
const plain = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 13) & 0xff)

describe('chunk encryption: AES-256-GCM in Node and in browsers', () => {
  it('seals the same bytes and opens the other one\'s', async () => {
    const nk = await node.importAesKey(key)
    const wk = await web.importAesKey(key)
    const a = await node.seal(nk, iv, plain)
    const b = await web.seal(wk, iv, plain)
    assert.deepEqual(a, b)
    assert.equal(a.byteLength, plain.byteLength + 16)
    assert.deepEqual(await node.open(nk, iv, b), plain)
    assert.deepEqual(await web.open(wk, iv, a), plain)
    assert.deepEqual(await node.open(nk, iv, await node.seal(nk, iv, new Uint8Array(0))), new Uint8Array(0))
  })

  it('opens a ciphertext in pieces, wherever they are cut (the tag straddling two included)', async () => {
    const nk = await node.importAesKey(key)
    const wk = await web.importAesKey(key)
    const sealed = await node.seal(nk, iv, plain)
    const join = (ps: Uint8Array[]): Uint8Array => { const all = new Uint8Array(ps.reduce((n, p) => n + p.byteLength, 0)); let at = 0; for (const p of ps) { all.set(p, at); at += p.byteLength } return all }
    const n = sealed.byteLength
    for (const cuts of [[], [1000], [n - 16], [n - 8], [n - 1], [5, n - 20, n - 10, n - 3], [0, 0, 65536, n]]) {
      const ps: Uint8Array[] = []
      let at = 0
      for (const c of [...cuts, n]) { ps.push(sealed.subarray(at, c)); at = c }
      assert.deepEqual(join(await node.openPieces(nk, iv, ps)), plain, `node: cut at ${cuts.join(', ')}`)
      assert.deepEqual(join(await web.openPieces(wk, iv, ps)), plain, `web: cut at ${cuts.join(', ')}`)
    }
    assert.deepEqual(await node.openPieces(nk, iv, [await node.seal(nk, iv, new Uint8Array(0))]), [])
  })

  it('refuses a tampered, truncated or short-tagged ciphertext, a wrong iv or key', async () => {
    const nk = await node.importAesKey(key)
    const wk = await web.importAesKey(key)
    const sealed = await node.seal(nk, iv, plain)
    const flipped = new Uint8Array(sealed)
    flipped[1234] ^= 1
    const otherIv = new Uint8Array(iv)
    otherIv[11] ^= 1
    const cases: Array<[string, Uint8Array, Uint8Array, boolean]> = [
      ['a flipped byte', flipped, iv, false],
      ['a missing byte', sealed.subarray(0, sealed.byteLength - 1), iv, false],
      ['a 12-byte tag', sealed.subarray(0, plain.byteLength + 12), iv, false],
      ['no tag', sealed.subarray(0, plain.byteLength), iv, false],
      ['fewer bytes than a tag', sealed.subarray(0, 15), iv, false],
      ['nothing', new Uint8Array(0), iv, false],
      ['another iv', sealed, otherIv, false],
      ['another key', sealed, iv, true]
    ]
    for (const [what, bytes, v, otherKey] of cases) {
      const k = otherKey ? await node.importAesKey(new Uint8Array(32)) : nk
      await assert.rejects(node.open(k, v, bytes), `node: ${what}`)
      await assert.rejects(web.open(otherKey ? await web.importAesKey(new Uint8Array(32)) : wk, v, bytes), `web: ${what}`)
      // in pieces too (the last cut inside the tag where there is one)
      const ps = [bytes.subarray(0, Math.max(0, bytes.byteLength - 7)), bytes.subarray(Math.max(0, bytes.byteLength - 7))]
      await assert.rejects(node.openPieces(k, v, ps), `node, in pieces: ${what}`)
      await assert.rejects(web.openPieces(otherKey ? await web.importAesKey(new Uint8Array(32)) : wk, v, ps), `web, in pieces: ${what}`)
    }
  })
})
