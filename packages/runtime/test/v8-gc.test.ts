// The node's V8 setting for a process that moves bytes (v8-gc.ts): external
// garbage — the buffers a node reads, encrypts and sends — no longer sets off
// a full collection every few tens of megabytes. Each side runs in a process
// of its own (the setting is process-wide and cannot be undone).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, it } from 'node:test'

const run = promisify(execFile)

/** Major collections while a process drops 512 one-MiB buffers, tuned first or not. */
async function majorCollections (tuned: boolean): Promise<number> {
  const script = `
    import { PerformanceObserver, constants } from 'node:perf_hooks'
    import { tuneV8ForBytes } from ${JSON.stringify(new URL('../src/v8-gc.ts', import.meta.url).href)}
    if (${tuned}) { tuneV8ForBytes(); tuneV8ForBytes() }
    let major = 0
    const obs = new PerformanceObserver(list => { for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++ })
    obs.observe({ entryTypes: ['gc'] })
    let last
    for (let i = 0; i < 512; i++) { last = new Uint8Array(1 << 20); last[0] = i; if (i % 16 === 0) await new Promise(r => setImmediate(r)) }
    await new Promise(r => setTimeout(r, 50))
    obs.disconnect()
    console.log(JSON.stringify({ major, last: last[0] }))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script])
  const out = JSON.parse(stdout) as { major: number, last: number }
  assert.equal(out.last, 511 & 0xff)
  return out.major
}

describe('V8 set for a process that moves bytes', () => {
  it('512 MiB of dropped buffers set off fewer full collections once tuned', async () => {
    const [plain, tuned] = await Promise.all([majorCollections(false), majorCollections(true)])
    assert.ok(plain >= 2, `V8's default collected ${plain} times: the test no longer shows the difference`)
    assert.ok(tuned < plain, `tuned: ${tuned} full collections, default: ${plain}`)
  })
})
