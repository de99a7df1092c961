// The deterministic VM in sandbox domains on Web Workers (real Chromium): a
// tab's executions produce the same output, fuel and trace commitment as
// Node's for the same tasks; an endless task is stopped at a slice boundary
// by an abort (what Revoke does) while the page's main thread keeps serving
// its timers; the page must be cross-origin isolated, and is.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compileTask } from '@webfabric/sdk'
import { type BrowserPage, openInBrowser } from '../../../scripts/browser.ts'
import { execute, loadModule } from '../src/index.ts'

const ENTRY = fileURLToPath(new URL('./browser/entry.ts', import.meta.url))
const WORKER = fileURLToPath(new URL('../src/sandbox/worker-web.ts', import.meta.url))
const SPIN = fileURLToPath(new URL('./fixtures/assembly/spin.ts', import.meta.url))
const u32 = (n: number): number[] => [...new Uint8Array(new Uint32Array([n]).buffer)]

describe('sandbox domains on Web Workers (Chromium)', () => {
  let page: BrowserPage
  let module: Uint8Array

  before(async () => {
    module = await compileTask(SPIN)
    page = await openInBrowser(ENTRY, { workers: { worker: WORKER } })
    assert.equal(await page.call('open', 2, 1), true, 'the page is cross-origin isolated')
  })

  after(async () => {
    await page?.call('close').catch(() => {})
    await page?.close()
  })

  it('runs tasks with the same output, fuel and trace commitment as Node', async () => {
    const inputs = [1, 1000, 123_456, 2_000_000].map(u32)
    const tab = await page.call<Array<{ status: string, fuel: number, output: number[], commitment: string }>>('runAll', [...module], inputs, 1e10)
    const mod = await loadModule(module, { profile: 'task' })
    for (const [i, input] of inputs.entries()) {
      const mine = await execute(mod, { input: new Uint8Array(input), fuelLimit: 1e10 })
      assert.equal(tab[i].status, 'ok')
      assert.deepEqual(tab[i].output, [...mine.output])
      assert.equal(tab[i].fuel, mine.fuel)
      assert.equal(tab[i].commitment, mine.commitment.toString(), `input ${i}: the tab's commitment is Node's`)
    }
  })

  it('an abort stops an endless task at a slice boundary while the main thread keeps running', async t => {
    const r = await page.call<{ ended: string, ticks: number, abortToEndMs: number }>('abortEndless', [...module], 300)
    t.diagnostic(`abort → the run ended in ${r.abortToEndMs.toFixed(1)} ms (slices of 2,000,000 fuel); ${r.ticks} main-thread ticks meanwhile`)
    assert.equal(r.ended, 'DomainAbortedError')
    assert.ok(r.ticks > 5, `the page's timers ran while the task computed (${r.ticks} ticks)`)
  })
})
