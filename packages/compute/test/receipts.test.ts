import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Identity } from '@webfabric/protocol'
import {
  type ReceiptBody,
  acceptReceipts,
  decodeAcceptance,
  decodeReceipt,
  encodeAcceptance,
  encodeReceipt,
  receiptCid,
  signReceipt,
  verdictOf,
  verifyAcceptance,
  verifyReceipt
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
})
