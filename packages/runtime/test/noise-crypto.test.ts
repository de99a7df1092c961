// The Node host's noise crypto is standard noise: ChaCha20-Poly1305 with a cached key object gives
// the default crypto's bytes, either side opens the other's messages, tampering is refused, and a
// node using it talks to a node using libp2p-noise's default over real TCP.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { noise, pureJsCrypto } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { nodeNoiseCrypto } from '../src/noise-crypto.ts'

/** Bytes as noise passes them (its own copy of uint8arraylist; lists are marked alike across copies). */
type NoiseBytes = Parameters<typeof nodeNoiseCrypto.chaCha20Poly1305Decrypt>[0]

/** A sealed or opened message as one Buffer (compared with Buffers: deepEqual tells a Buffer from a Uint8Array). */
const flat = (b: Uint8Array | { subarray: () => Uint8Array }): Buffer => Buffer.from(b instanceof Uint8Array ? b : b.subarray())
/** `bytes` as a list of pieces of the given sizes (the last takes the rest). */
function inPieces (bytes: Uint8Array, sizes: number[]): NoiseBytes {
  const list = new Uint8ArrayList()
  let at = 0
  for (const size of sizes) { list.append(bytes.subarray(at, Math.min(at + size, bytes.length))); at += size }
  if (at < bytes.length) list.append(bytes.subarray(at))
  return list as unknown as NoiseBytes
}
function nonceOf (n: number): Uint8Array {
  const nonce = new Uint8Array(12)
  new DataView(nonce.buffer).setUint32(4, n, true)
  return nonce
}

// up to 511 bytes take the default's short path; 512 up to noise's largest message (65,535 - 16) ours
const SIZES = [0, 1, 511, 512, 1199, 1200, 4096, 65519]

describe('node noise crypto', () => {
  it('seals exactly as the default crypto does, and each opens the other', () => {
    const k = randomBytes(32)
    for (const size of SIZES) {
      for (const ad of [new Uint8Array(0), randomBytes(32)]) {
        const plaintext = randomBytes(size)
        const nonce = nonceOf(size + ad.length)
        const ours = flat(nodeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
        const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
        assert.deepEqual(ours, theirs, `size ${size}, ad ${ad.length}`)
        assert.deepEqual(flat(pureJsCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)), ours)
        assert.deepEqual(flat(nodeNoiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k)), plaintext)
        assert.deepEqual(flat(defaultCrypto.chaCha20Poly1305Decrypt(Uint8Array.from(ours), nonce, ad, k)), plaintext)
      }
    }
  })

  it('takes input in pieces, as noise hands over a message split across reads', () => {
    const k = randomBytes(32)
    const nonce = nonceOf(7)
    const ad = new Uint8Array(0)
    const plaintext = randomBytes(65519)
    const sealed = flat(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    // pieces that split the text, and one that splits the tag itself
    for (const sizes of [[1, 1000, 30000], [65519 + 3], [65520, 8]]) {
      assert.deepEqual(flat(nodeNoiseCrypto.chaCha20Poly1305Encrypt(inPieces(plaintext, sizes), nonce, ad, k)), sealed)
      assert.deepEqual(flat(nodeNoiseCrypto.chaCha20Poly1305Decrypt(inPieces(sealed, sizes), nonce, ad, k)), plaintext)
    }
  })

  it('refuses a message whose text, tag, data, nonce or key is not what was sealed', () => {
    const k = randomBytes(32)
    const nonce = nonceOf(3)
    const ad = randomBytes(32)
    const plaintext = randomBytes(20000)
    const sealed = flat(nodeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    for (const at of [0, 9999, sealed.length - 16, sealed.length - 1]) {
      const bad = Uint8Array.from(sealed)
      bad[at] ^= 1
      assert.throws(() => nodeNoiseCrypto.chaCha20Poly1305Decrypt(bad, nonce, ad, k), `byte ${at} flipped`)
    }
    assert.throws(() => nodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, randomBytes(32), k))
    assert.throws(() => nodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonceOf(4), ad, k))
    assert.throws(() => nodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, randomBytes(32)))
  })

  it('uses the key array’s current bytes, never a key object cached for bytes it no longer holds', () => {
    const k = randomBytes(32)
    const nonce = nonceOf(1)
    const ad = new Uint8Array(0)
    const plaintext = randomBytes(5000)
    const first = flat(nodeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    k.set(randomBytes(32))
    const second = flat(nodeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
    assert.notDeepEqual(second, first)
    assert.deepEqual(second, flat(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)))
    assert.deepEqual(flat(nodeNoiseCrypto.chaCha20Poly1305Decrypt(second, nonce, ad, k)), plaintext)
  })

  it('talks to a node on libp2p-noise’s default crypto over TCP, both ways, small and large messages', async () => {
    const PROTOCOL = '/webfabric-test/echo/1'
    const node = async (crypto?: typeof nodeNoiseCrypto): Promise<Libp2p> => await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise(crypto == null ? {} : { crypto })],
      streamMuxers: [yamux()]
    })
    const ours = await node(nodeNoiseCrypto)
    const theirs = await node()
    try {
      for (const n of [ours, theirs]) {
        // echo back everything, then close
        await n.handle(PROTOCOL, async (stream: Stream) => {
          for await (const chunk of stream) {
            if (!stream.send(chunk)) await stream.onDrain()
          }
          await stream.close()
        })
      }
      const payload = randomBytes(3 * 2 ** 20 + 5)
      const digest = createHash('sha256').update(payload).digest('hex')
      for (const [from, to] of [[ours, theirs], [theirs, ours]]) {
        const stream = await from.dialProtocol(to.getMultiaddrs(), PROTOCOL)
        const received = new Uint8ArrayList()
        const reading = (async () => { for await (const chunk of stream) received.append(chunk) })()
        // a few small messages (the default's path), then megabytes (ours)
        for (let at = 0, step = 1; at < payload.length; at += step, step = step < 2 ** 20 ? step * 4 : step) {
          if (!stream.send(payload.subarray(at, at + step))) await stream.onDrain()
        }
        await stream.close()
        await reading
        assert.equal(received.byteLength, payload.length)
        assert.equal(createHash('sha256').update(received.subarray()).digest('hex'), digest)
      }
    } finally {
      await Promise.all([ours.stop(), theirs.stop()])
    }
  })
})
