import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Identity, decode, encode } from '@webfabric/protocol'
import { encodeReceiptBodyBytes, encodeReceiptBytes, readReceiptBytes } from '../src/receipt-codec.ts'
import {
  type Receipt,
  type ReceiptBody,
  MAX_RECEIPT_BATCH,
  VerifiedRoots,
  acceptReceipts,
  decodeAcceptance,
  decodeReceipt,
  encodeAcceptance,
  encodeReceipt,
  receiptCid,
  signReceipt,
  signReceipts,
  verdictOf,
  verifyAcceptance,
  verifyReceipt,
  verifyReceiptBytes
} from '../src/receipts.ts'

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)

async function fixture (): Promise<{ worker: Identity, coordinator: Identity, body: ReceiptBody }> {
  const worker = await Identity.fromSeed(seed(1))
  const coordinator = await Identity.fromSeed(seed(2))
  const origin = await Identity.fromSeed(seed(3))
  const body: ReceiptBody = {
    v: 1,
    origin: origin.did,
    job: 'job-1',
    task: 't0',
    assignment: 'a1',
    module: 'bafkmodule',
    input: 'bafkinput',
    output: 'bafkoutput',
    status: 'ok',
    fuel: 12345,
    commitment: 'bafycommit',
    wallMs: 17,
    lease: 'bafylease',
    worker: worker.did,
    coordinator: coordinator.did,
    at: 1_700_000_000_000
  }
  return { worker, coordinator, body }
}

describe('receipts', () => {
  it('a worker-signed receipt survives encoding and verifies', async () => {
    const { worker, body } = await fixture()
    const r = await signReceipt(worker, body)
    const back = decodeReceipt(encodeReceipt(r))
    assert.deepEqual(await verifyReceipt(back), body)
  })

  it('refuses a receipt whose fields were altered after signing', async () => {
    const { worker, body } = await fixture()
    const r = await signReceipt(worker, body)
    for (const change of [{ fuel: 1 }, { commitment: 'bafyother' }, { output: 'bafyx' }, { status: 'trap' }]) {
      await assert.rejects(verifyReceipt({ body: { ...r.body, ...change }, sig: r.sig }), { name: 'InvalidSignatureError' })
    }
  })

  it('a worker cannot sign a receipt in another worker\'s name', async () => {
    const { coordinator, body } = await fixture()
    await assert.rejects(signReceipt(coordinator, body), { name: 'MalformedError' })
  })

  it('refuses malformed bodies with the field named', async () => {
    const { worker, body } = await fixture()
    const r = await signReceipt(worker, body)
    await assert.rejects(verifyReceipt({ body: { ...r.body, fuel: -1 }, sig: r.sig }), (e: Error & { field?: string }) => e.name === 'MalformedError' && e.field === 'fuel')
    await assert.rejects(verifyReceipt({ body: { ...r.body, extra: 1 } as unknown as ReceiptBody, sig: r.sig }), { name: 'MalformedError' })
    await assert.rejects(verifyReceipt({ body: { ...r.body, worker: 'did:web:x' }, sig: r.sig }), { name: 'MalformedError' })
    assert.throws(() => decodeReceipt(new Uint8Array([1, 2, 3])), { name: 'MalformedError' })
  })

  it('the coordinator countersigns a batch of receipts: each verdict is bound to its receipt\'s CID', async () => {
    const { worker, coordinator, body } = await fixture()
    const r0 = await signReceipt(worker, body)
    const r1 = await signReceipt(worker, { ...body, task: 't1' })
    const r2 = await signReceipt(worker, { ...body, task: 't2' })
    const [c0, c1, c2] = await Promise.all([r0, r1, r2].map(receiptCid))
    const a = decodeAcceptance(encodeAcceptance(await acceptReceipts(coordinator, { accepted: [c0, c1], rejected: [c2] }, 1_700_000_000_100)))
    const v = await verifyAcceptance(a)
    assert.equal(v.coordinator, coordinator.did)
    assert.deepEqual([verdictOf(v, c0), verdictOf(v, c1), verdictOf(v, c2)], [true, true, false])
    assert.equal(verdictOf(v, await receiptCid(await signReceipt(worker, { ...body, task: 't3' }))), undefined)
  })

  it('refuses an altered, malformed or oversized acceptance', async () => {
    const { worker, coordinator, body } = await fixture()
    const c0 = await receiptCid(await signReceipt(worker, body))
    const a = await acceptReceipts(coordinator, { accepted: [c0], rejected: [] }, 1)
    await assert.rejects(verifyAcceptance({ body: { ...a.body, accepted: [], rejected: [c0] }, sig: a.sig }), { name: 'InvalidSignatureError' })
    const stranger = await Identity.fromSeed(seed(9))
    await assert.rejects(verifyAcceptance({ body: { ...a.body, coordinator: stranger.did }, sig: a.sig }), { name: 'InvalidSignatureError' })
    await assert.rejects(verifyAcceptance({ body: { ...a.body, accepted: [7] } as never, sig: a.sig }), { name: 'MalformedError' })
    await assert.rejects(acceptReceipts(coordinator, { accepted: Array.from({ length: 513 }, () => c0), rejected: [] }, 1), { name: 'MalformedError' })
  })

  describe('batches: one signature over the Merkle root of many receipts', () => {
    const bodies = (body: ReceiptBody, n: number): ReceiptBody[] => Array.from({ length: n }, (_, i) => ({ ...body, task: `t${i}`, assignment: `a${i}` }))
    const flip = (b: Uint8Array): Uint8Array => { const c = new Uint8Array(b); c[0] ^= 1; return c }

    it('every receipt of a batch of any size verifies on its own, after encoding, with or without a cache of roots', async () => {
      const { worker, body } = await fixture()
      for (const n of [2, 3, 4, 5, 7, 8, 9, 16, 17, 33, MAX_RECEIPT_BATCH]) {
        const rs = await signReceipts(worker, bodies(body, n))
        assert.equal(new Set(rs.map(r => r.sig)).size, 1, 'one signature for the batch')
        const roots = new VerifiedRoots()
        for (const [i, r] of rs.entries()) {
          const back = decodeReceipt(encodeReceipt(r))
          assert.deepEqual(back.proof, { n, i, path: r.proof?.path })
          assert.deepEqual(await verifyReceipt(back, roots), r.body)
          if (i % 13 === 0) assert.deepEqual(await verifyReceipt(back), r.body)
        }
      }
    })

    it('one body is signed as it is, with no proof', async () => {
      const { worker, body } = await fixture()
      const [r] = await signReceipts(worker, [body])
      assert.equal(r.proof, undefined)
      assert.deepEqual(await verifyReceipt(r), body)
    })

    it('refuses a batched receipt whose body, index, path, size or signature was altered — with or without the batch\'s root already verified', async () => {
      const { worker, body } = await fixture()
      const rs = await signReceipts(worker, bodies(body, 6))
      const r = rs[4]
      const proof = r.proof!
      const roots = new VerifiedRoots()
      await verifyReceipt(rs[0], roots) // the batch's root is now known good
      const altered: Receipt[] = [
        { ...r, body: { ...r.body, fuel: 1 } },
        { ...r, body: rs[3].body }, // another receipt's body with this one's path
        { ...r, proof: { ...proof, i: 3 } },
        { ...r, proof: { ...proof, i: 5 } },
        { ...r, proof: { ...proof, n: 7 } },
        { ...r, proof: { ...proof, n: 5 } },
        { ...r, proof: { ...proof, path: proof.path.map((h, j) => j === 0 ? flip(h) : h) } },
        { ...r, proof: { ...proof, path: proof.path.slice(1) } },
        { ...r, proof: { ...proof, path: [...proof.path, proof.path[0]] } },
        { ...r, sig: flip(r.sig) }
      ]
      for (const bad of altered) {
        await assert.rejects(verifyReceipt(bad, roots), { name: 'InvalidSignatureError' })
        await assert.rejects(verifyReceipt(bad), { name: 'InvalidSignatureError' })
      }
    })

    it('a worker cannot batch a receipt in another worker\'s name, nor more than the most a batch holds', async () => {
      const { worker, coordinator, body } = await fixture()
      await assert.rejects(signReceipts(worker, [body, { ...body, worker: coordinator.did }]), { name: 'MalformedError' })
      await assert.rejects(signReceipts(worker, bodies(body, MAX_RECEIPT_BATCH + 1)), { name: 'MalformedError' })
      await assert.rejects(signReceipts(worker, []), { name: 'MalformedError' })
    })

    it('decoding refuses a malformed proof or an unknown field, naming it', async () => {
      const { worker, body } = await fixture()
      const [r] = await signReceipts(worker, bodies(body, 3))
      const x = decode(encodeReceipt(r)) as { body: unknown, sig: Uint8Array, proof: Record<string, unknown> }
      const proofs = [
        { ...x.proof, n: 1, i: 0 },
        { ...x.proof, n: MAX_RECEIPT_BATCH + 1 },
        { ...x.proof, i: 3 },
        { ...x.proof, i: -1 },
        { ...x.proof, path: [new Uint8Array(31)] },
        { ...x.proof, path: Array.from({ length: 9 }, () => new Uint8Array(32)) },
        { ...x.proof, path: 'x' },
        { ...x.proof, extra: 1 },
        [1, 2]
      ]
      for (const proof of proofs) assert.throws(() => decodeReceipt(encode({ ...x, proof })), (e: Error & { field?: string }) => e.name === 'MalformedError' && e.field === 'proof')
      assert.throws(() => decodeReceipt(encode({ ...x, more: 1 })), { name: 'MalformedError' })
    })

    it('a cache of roots remembers only signatures that verified', async () => {
      const { worker, body } = await fixture()
      const rs = await signReceipts(worker, bodies(body, 2))
      const roots = new VerifiedRoots()
      const forged = { ...rs[0], sig: flip(rs[0].sig) }
      await assert.rejects(verifyReceipt(forged, roots), { name: 'InvalidSignatureError' })
      await assert.rejects(verifyReceipt(forged, roots), { name: 'InvalidSignatureError' })
      assert.deepEqual(await verifyReceipt(rs[1], roots), rs[1].body)
    })
  })
})

describe('the receipt\'s own encoder', () => {
  // integers at every head width's edges, up to the largest safe integer
  const integer = fc.oneof(
    fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
    fc.nat(),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
  )
  // ASCII, any Unicode (astral too), and lengths across the 23/24 and 255/256 head edges
  const text = fc.oneof(fc.string({ maxLength: 256 }), fc.string({ unit: 'grapheme', maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ minLength: 20, maxLength: 30 }))

  it('writes the same bytes as the general DAG-CBOR encoder, for any body, signature and proof', async () => {
    const { body } = await fixture()
    fc.assert(fc.property(
      fc.record({ origin: text, job: text, task: text, assignment: text, module: text, input: text, output: text, status: text, commitment: text, lease: text, fuel: integer, wallMs: integer, at: integer }),
      fc.uint8Array({ maxLength: 300 }),
      fc.option(fc.record({ n: fc.integer({ min: 2, max: 256 }), i: fc.nat({ max: 255 }), path: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 8 }) }), { nil: undefined }),
      (fields, sig, proof) => {
        const b: ReceiptBody = { ...body, ...fields }
        assert.deepEqual(encodeReceiptBodyBytes(b), encode(b))
        const r: Receipt = proof == null ? { body: b, sig } : { body: b, sig, proof }
        const general = encode(proof == null ? { body: b, sig } : { body: b, sig, proof })
        assert.deepEqual(encodeReceiptBytes(r), general)
        assert.deepEqual(encodeReceiptBytes(r, encodeReceiptBodyBytes(b)), general)
      }
    ), { numRuns: 500 })
  })

  it('reads back by its layout every receipt it writes, and decodes it as the general decoder does', async () => {
    const { body } = await fixture()
    fc.assert(fc.property(
      fc.record({ origin: text, job: text, task: text, assignment: text, module: text, input: text, output: text, status: text, commitment: text, lease: text, fuel: integer, wallMs: integer, at: integer }),
      fc.uint8Array({ maxLength: 300 }),
      fc.option(fc.record({ n: fc.integer({ min: 2, max: 256 }), i: fc.nat({ max: 255 }), path: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 8 }) }), { nil: undefined }),
      (fields, sig, proof) => {
        const b: ReceiptBody = { ...body, ...fields }
        const r: Receipt = proof == null ? { body: b, sig } : { body: b, sig, proof: { ...proof } }
        const bytes = encodeReceiptBytes(r)
        const laid = readReceiptBytes(bytes)
        // a string with a leading byte-order mark is the general decoder's to judge (it drops the mark)
        if (Object.values(fields).some(v => typeof v === 'string' && v.startsWith('\uFEFF'))) { assert.equal(laid, undefined); return }
        assert.ok(laid != null)
        assert.deepEqual(laid.receipt, r)
        assert.deepEqual(laid.receipt, decode(bytes))
        assert.deepEqual(bytes.subarray(laid.bodyStart, laid.bodyEnd), encodeReceiptBodyBytes(b))
      }
    ), { numRuns: 500 })
  })

  it('decodeReceipt accepts only canonical encodings of valid receipts, whatever bytes it is given', async () => {
    const { worker, body } = await fixture()
    const rs = await signReceipts(worker, [body, { ...body, task: 't1', fuel: 2 ** 40 }, { ...body, task: 't2', status: 'trap' }])
    const valid = [encodeReceipt(await signReceipt(worker, body)), ...rs.map(encodeReceipt)]
    // every byte changed, dropped or duplicated somewhere (the layout's heads and keys included)
    fc.assert(fc.property(
      fc.constantFrom(...valid), fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('set', 'drop', 'dup', 'cut'),
      (bytes, where, value, how) => {
        const at = where % bytes.length
        const m = how === 'set' ? bytes.slice() : how === 'drop' ? new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + 1)])
          : how === 'dup' ? new Uint8Array([...bytes.subarray(0, at + 1), ...bytes.subarray(at)]) : bytes.subarray(0, at)
        if (how === 'set') m[at] = value
        // the layout reader alone: whatever it reads, these bytes are its canonical encoding
        const laid = readReceiptBytes(m)
        if (laid != null) assert.deepEqual(encodeReceiptBytes(laid.receipt), m)
        let r: Receipt
        try { r = decodeReceipt(m) } catch (err) { assert.equal((err as Error).name, 'MalformedError'); return }
        // accepted: then it is the general decoder's reading of canonical bytes
        assert.deepEqual(encode(r), m)
        assert.deepEqual(r, decode(m))
      }
    ), { numRuns: 3000 })
  })

  it('verifyReceiptBytes verifies what decodeReceipt and verifyReceipt verify, and refuses what they refuse', async () => {
    const { worker, body } = await fixture()
    const single = await signReceipt(worker, body)
    const batch = await signReceipts(worker, [body, { ...body, task: 't1' }, { ...body, task: 't2' }])
    for (const r of [single, ...batch]) {
      const bytes = encodeReceipt(r)
      for (const roots of [undefined, new VerifiedRoots()]) {
        const { receipt, body: checked } = await verifyReceiptBytes(bytes, roots)
        assert.deepEqual(receipt, decodeReceipt(bytes))
        assert.deepEqual(checked, await verifyReceipt(receipt))
      }
    }
    // any one byte changed: both refuse it (by name), or both accept the same receipt
    const bytes = encodeReceipt(batch[1])
    for (let at = 0; at < bytes.length; at++) {
      const m = bytes.slice()
      m[at] ^= 1 + (at % 7)
      const general = await (async () => { try { return await verifyReceipt(decodeReceipt(m)) } catch (err) { return (err as Error).name } })()
      const direct = await (async () => { try { return (await verifyReceiptBytes(m)).body } catch (err) { return (err as Error).name } })()
      assert.deepEqual(direct, general, `byte ${at}`)
      assert.equal(typeof direct, 'string', `byte ${at} changed and still verified`)
    }
  })

  it('refuses a receipt with a string that starts with a byte-order mark, as the general decoder does', async () => {
    // the general decoder reads '\uFEFFjob-1' as 'job-1' (so such bytes are not the canonical
    // encoding of what it read); the layout reader must not read them otherwise and accept them
    const { worker, body } = await fixture()
    const batch = await signReceipts(worker, [{ ...body, task: '\uFEFFt0' }, body])
    for (const r of [await signReceipt(worker, { ...body, job: '\uFEFFjob-1' }), batch[0]]) {
      const bytes = encodeReceipt(r)
      assert.equal(readReceiptBytes(bytes), undefined)
      assert.notDeepEqual(decode(bytes, { canonical: false }), r)
      assert.throws(() => decodeReceipt(bytes), { name: 'MalformedError' })
      await assert.rejects(verifyReceiptBytes(bytes), { name: 'MalformedError' })
    }
    // its batch-mate is unaffected
    assert.deepEqual(decodeReceipt(encodeReceipt(batch[1])), batch[1])
  })

  it('decoding still refuses a valid encoding that is not the canonical one', async () => {
    const { worker, body } = await fixture()
    const [r] = await signReceipts(worker, [body, { ...body, task: 't1' }])
    const bytes = encodeReceipt(r)
    assert.deepEqual(decodeReceipt(bytes), r)
    // the same value with its fuel in a wider head than it needs (12345 fits two bytes: 0x19 0x30 0x39)
    const at = indexOf(bytes, [0x64, 0x66, 0x75, 0x65, 0x6c, 0x19, 0x30, 0x39]) // "fuel" 12345
    assert.ok(at > 0)
    const wide = new Uint8Array(bytes.length + 2)
    wide.set(bytes.subarray(0, at + 5))
    wide.set([0x1a, 0x00, 0x00, 0x30, 0x39], at + 5)
    wide.set(bytes.subarray(at + 8), at + 10)
    assert.throws(() => decodeReceipt(wide), { name: 'MalformedError' })
    // and the same entries with the keys out of order (body before sig): valid CBOR, the same value
    const unsorted = reorder(bytes, decode(bytes) as Record<string, unknown>)
    assert.deepEqual(decode(unsorted, { canonical: false }), decode(bytes))
    assert.throws(() => decodeReceipt(unsorted), { name: 'MalformedError' })
  })
})

function indexOf (hay: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** A receipt's bytes with its top-level entries in the order body, sig, proof (DAG-CBOR wants sig, body, proof). */
function reorder (bytes: Uint8Array, x: Record<string, unknown>): Uint8Array {
  const sigEntry = encode({ sig: x.sig }).subarray(1)
  const bodyEntry = encode({ body: x.body }).subarray(1)
  const proofEntry = encode({ proof: x.proof }).subarray(1)
  const out = new Uint8Array(bytes.length)
  out[0] = bytes[0]
  out.set(bodyEntry, 1)
  out.set(sigEntry, 1 + bodyEntry.length)
  out.set(proofEntry, 1 + bodyEntry.length + sigEntry.length)
  return out
}

