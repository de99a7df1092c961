// The receipt log on disk: what a node appends (receipts it signed, acceptances of them) reads back
// the same after a restart.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type ReceiptBody, acceptReceipts, encodeReceipt, receiptCid, signReceipts } from '@webfabric/compute'
import { Identity, fromBase64url } from '@webfabric/protocol'
import { ReceiptLog } from '../src/receipt-log.ts'

describe('receipt log', () => {
  it('reads back every receipt and verdict it appended, byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wf-receipt-log-'))
    try {
      const worker = await Identity.fromSeed(new Uint8Array(32).fill(1))
      const coordinator = await Identity.fromSeed(new Uint8Array(32).fill(2))
      const body = (i: number): ReceiptBody => ({
        v: 1, origin: coordinator.did, job: 'job-1', task: `t${i}`, assignment: `a${i}`, module: 'bafkm', input: `bafki${i}`, output: 'bafko', status: 'ok',
        fuel: 1000 + i, commitment: 'bafyc', wallMs: 1, lease: 'l', worker: worker.did, coordinator: coordinator.did, at: 1_700_000_000_000 + i
      })
      const receipts = await signReceipts(worker, [0, 1, 2].map(body))
      const path = join(dir, 'receipts.jsonl')
      const log = new ReceiptLog(path)
      const cids = await Promise.all(receipts.map(async r => await log.append(r)))
      assert.deepEqual(cids, await Promise.all(receipts.map(receiptCid)))
      assert.equal(await log.accept(await acceptReceipts(coordinator, { accepted: [cids[0], cids[2]], rejected: [cids[1]] }, 1_700_000_001_000)), 3)
      await log.close()
      // the lines hold the receipts' canonical bytes as unpadded base64url
      const lines = (await readFile(path, 'utf8')).trim().split('\n').map(l => JSON.parse(l) as { t: string, b: string })
      assert.deepEqual(lines.filter(l => l.t === 'r').map(l => fromBase64url(l.b)), receipts.map(encodeReceipt))
      const again = await new ReceiptLog(path).list()
      assert.deepEqual(again.map(e => e.cid), [...cids].reverse())
      assert.deepEqual(again.map(e => e.accepted), [true, false, true])
      assert.deepEqual(again.map(e => e.task), ['t2', 't1', 't0'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
