// Block frames of the storage protocol, written around the block and read
// back without copying it: the same bytes as the general DAG-CBOR encoding,
// whatever pieces they arrive in, and every truncated, padded, misspelt or
// oversized frame refused by name before a byte of it is used.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from '@webfabric/protocol'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_BLOCK_BYTES, MAX_STORAGE_FRAME, decodeFetchReply, decodeReply, decodeStoreFrame, encodeBlockFrame, encodeStorageFrame } from '../src/storage-wire.ts'

const block = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)
/** `bytes` cut into pieces of `size` bytes, as a stream delivers them. */
const pieces = (bytes: Uint8Array, size: number): Uint8ArrayList => {
  const list = new Uint8ArrayList()
  for (let i = 0; i < bytes.byteLength; i += size) list.append(bytes.slice(i, i + size))
  return list
}
const refused = (data: Uint8Array | Uint8ArrayList, field?: string): void => {
  for (const decode of [decodeReply, decodeStoreFrame, decodeFetchReply]) {
    assert.throws(() => decode(data), (e: Error & { field?: string }) => e.name === 'MalformedError' && (field == null || e.field === field), `field ${field}`)
  }
}

describe('storage frames: block', () => {
  it('are the bytes of the general encoding, for every length of header', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 20 + 16]) {
      const b = block(n)
      assert.deepEqual(encodeBlockFrame(b).subarray(), encodeStorageFrame({ k: 'block', b }), `${n} bytes`)
    }
  })

  it('read back whole or in pieces, as a view of the frame when it arrived in one piece', () => {
    for (const n of [0, 5, 300, 70_000]) {
      const b = block(n)
      const frame = encodeBlockFrame(b).subarray()
      for (const data of [frame, pieces(frame, 1000), pieces(frame, 3)]) {
        assert.deepEqual(decodeReply(data), { k: 'block', b })
        assert.deepEqual(decodeStoreFrame(data), { k: 'block', b })
      }
      const got = decodeReply(frame)
      assert.ok(got.k === 'block' && (n === 0 || got.b.buffer === frame.buffer), 'not copied')
    }
  })

  it('read back for a fetch as the pieces they arrived in, not joined', () => {
    const joined = (b: Uint8Array | Uint8Array[]): Uint8Array => b instanceof Uint8Array ? b : new Uint8Array(b.flatMap(p => [...p]))
    for (const n of [0, 5, 300, 70_000]) {
      const b = block(n)
      const frame = encodeBlockFrame(b).subarray()
      const whole = decodeFetchReply(frame)
      assert.ok(whole.k === 'block' && whole.b instanceof Uint8Array && (n === 0 || whole.b.buffer === frame.buffer), 'a view of one piece')
      for (const size of [1000, 3]) {
        const list = pieces(frame, size)
        const got = decodeFetchReply(list)
        assert.ok(got.k === 'block')
        assert.deepEqual(joined(got.b), b, `${n} bytes in pieces of ${size}`)
        // every piece is a view of a piece received (nothing copied)
        const received = new Set([...list].map(p => p.buffer))
        if (Array.isArray(got.b)) for (const p of got.b) assert.ok(received.has(p.buffer))
      }
    }
    // any other frame reads as decodeReply reads it
    assert.deepEqual(decodeFetchReply(encodeStorageFrame({ k: 'missing', cid: 'x' })), { k: 'missing', cid: 'x' })
    const other = new Uint8Array([0xa2, 0x61, 0x6b, 0x65, ...new TextEncoder().encode('block'), 0x61, 0x62, 0x58, 40, ...block(40)])
    assert.deepEqual(decodeFetchReply(pieces(other, 7)), { k: 'block', b: block(40) })
  })

  it('still read in any other spelling the general decoder accepts (keys in another order)', () => {
    const b = block(40)
    const other = new Uint8Array([0xa2, 0x61, 0x6b, 0x65, ...new TextEncoder().encode('block'), 0x61, 0x62, 0x58, 40, ...b])
    assert.deepEqual(decodeReply(other), { k: 'block', b })
    assert.deepEqual(decodeStoreFrame(pieces(other, 7)), { k: 'block', b })
  })

  it('refuses a truncated, padded or misspelt frame', () => {
    const frame = encodeBlockFrame(block(300)).subarray()
    refused(frame.subarray(0, frame.byteLength - 1))
    refused(frame.subarray(0, 10))
    refused(frame.subarray(0, 4))
    refused(new Uint8Array([...frame, 0]))
    refused(pieces(new Uint8Array([...frame, 0]), 64))
    const misspelt = new Uint8Array(frame)
    misspelt[misspelt.byteLength - 1] = 0x78 // "blocx"
    refused(misspelt)
    // a header that claims more bytes than follow
    const long = new Uint8Array(frame)
    long[5] = 0xff
    refused(long)
    refused(encode({ k: 'block', b: block(3), x: 1 }), 'x')
    refused(encode({ k: 'block', b: 'bytes' }), 'b')
    refused(encode({ k: 'block' }), 'b')
  })

  it('refuses a block over the limit, or a frame over the frame limit', () => {
    refused(encode({ k: 'block', b: block(MAX_BLOCK_BYTES + 1) }), 'b')
    refused(pieces(encode({ k: 'block', b: block(MAX_BLOCK_BYTES + 1) }), 65536), 'b')
    assert.throws(() => encodeBlockFrame(block(MAX_BLOCK_BYTES + 1)), (e: Error & { field?: string }) => e.name === 'MalformedError' && e.field === 'b')
    refused(encode({ k: 'block', b: block(MAX_STORAGE_FRAME) }))
  })
})
