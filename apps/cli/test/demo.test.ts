// The main job, as `npm start -- --out DIR` runs it: a rendezvous and 4
// worker processes, one a saboteur and one killed with SIGKILL mid-job, render
// the Mandelbrot set. The test reads what the demo wrote, not what it printed.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { DemoSummary } from '../src/commands/demo.ts'
import { runCli } from './fixtures.ts'

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

describe('webfabric demo (npm start) --out DIR', () => {
  let out: string
  let stdout = ''
  let summary: DemoSummary

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'wf-demo-'))
    ;({ stdout } = await runCli(['demo', '--out', out], 240_000))
    summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
  })

  after(async () => { await rm(out, { recursive: true, force: true }) })

  it('accepts all 64 tiles, each equal to a local render', () => {
    assert.equal(summary.tasks, 64)
    assert.equal(summary.accepted, 64)
    assert.equal(summary.failed, 0)
    assert.equal(summary.wrongTiles, 0)
    assert.ok(summary.executions >= 2 * 64, `${summary.executions} executions for 64 tiles at 2-of-2`)
    assert.ok(summary.wallSeconds > 0)
  })

  it('catches the byzantine node: its results rejected, it blacklisted, no honest node blamed', () => {
    assert.equal(summary.byzantineCaught, 1)
    assert.deepEqual(summary.byzantine.map(b => [b.node, b.caught]), [['node-4', true]])
    assert.ok(summary.rejectedResults >= 1)
    assert.equal(summary.honestCaught, 0)
    assert.match(stdout, /result\(s\) rejected; the byzantine node node-4 was caught/)
  })

  it('survives the worker killed mid-job', () => {
    assert.equal(summary.killed, 'node-3')
    assert.match(stdout, /killed node-3 .* with SIGKILL/)
  })

  it('writes the picture, and the per-tile summary beside it', async () => {
    const png = await readFile(join(out, 'mandelbrot.png'))
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE)
    const tiles = JSON.parse(await readFile(join(out, summary.tiles), 'utf8'))
    assert.equal(tiles.tasks.length, 64)
    assert.equal(tiles.rejectedResults, summary.rejectedResults)
  })
})
