import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { execute, loadModule } from '../src/vm/index.ts'
import { AS_PRELUDE, compileAS } from './fixtures/asc.ts'

const TASK = `${AS_PRELUDE}
export function run(): void {
  const inp = readInput()
  const r = new Uint8Array(64); random_fill(r.dataStart, 64)
  let h: f64 = 0
  for (let i = 0; i < 100000; i++) h = h * 0.999 + <f64>(r[i & 63] ^ inp[i % inp.length]) / 3.0 + Math.sqrt(<f64>i)
  const out = new Float64Array(1); out[0] = h
  writeBytes(Uint8Array.wrap(out.buffer))
  logString("done")
}`

interface Seen { status: string, fuel: number, output: Uint8Array, commitment: string }

function inWorker (data: Record<string, unknown>): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/vm-worker.ts', import.meta.url), { workerData: data })
    w.once('message', m => { resolve(m as Seen); void w.terminate() })
    w.once('error', reject)
  })
}

describe('WebDeterministicVM: replicas in different threads', () => {
  it('two worker threads and the main thread agree on output, fuel and commitment', async () => {
    const bytes = await compileAS(TASK)
    const input = new TextEncoder().encode('the same input everywhere')
    const local = await execute(await loadModule(bytes, { profile: 'task' }), { input, fuelLimit: 1e10 })
    const [a, b] = await Promise.all([
      inWorker({ bytes, input, fuelLimit: 1e10 }),
      inWorker({ bytes, input, fuelLimit: 1e10, sliceFuel: 12_345 })
    ])
    assert.equal(local.status, 'ok')
    for (const r of [a, b]) {
      assert.equal(r.status, 'ok')
      assert.equal(r.fuel, local.fuel)
      assert.deepEqual(new Uint8Array(r.output), local.output)
      assert.equal(r.commitment, local.commitment.toString())
    }
  })
})
