import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Identity } from '@webfabric/protocol'
import {
  type ReceiptBody,
  acceptReceipt,
  decodeAcceptance,
  decodeReceipt,
  encodeAcceptance,
  encodeReceipt,
  signReceipt,
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

  it('the coordinator countersigns; the acceptance binds to that receipt only', async () => {
    const { worker, coordinator, body } = await fixture()
    const r = await signReceipt(worker, body)
    const a = decodeAcceptance(encodeAcceptance(await acceptReceipt(coordinator, r, true, 1_700_000_000_100)))
    assert.equal((await verifyAcceptance(a, r)).accepted, true)
    const other = await signReceipt(worker, { ...body, task: 't1' })
    await assert.rejects(verifyAcceptance(a, other), { name: 'MalformedError' })
    await assert.rejects(verifyAcceptance({ body: { ...a.body, accepted: false }, sig: a.sig }, r), { name: 'InvalidSignatureError' })
  })

  it('only the coordinator a receipt names may countersign it', async () => {
    const { worker, body } = await fixture()
    const r = await signReceipt(worker, body)
    const stranger = await Identity.fromSeed(seed(9))
    await assert.rejects(acceptReceipt(stranger, r, true, 1), { name: 'MalformedError' })
  })
})
