// The coordinator's pipeline depth: two assignments per sandbox domain until a worker's tasks are
// measured, deeper for short tasks (up to MAX_PIPELINE), back to two when they grow long.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MIN_PIPELINE, PIPELINE_WINDOW_MS, PipelineDepths, pipelineDepth } from '../src/compute-pipeline.ts'
import { MAX_PIPELINE } from '../src/compute-wire.ts'

describe('compute pipeline depth', () => {
  it('keeps about a window of work per domain, within its bounds', () => {
    assert.equal(pipelineDepth(undefined), MIN_PIPELINE)
    assert.equal(pipelineDepth(0), MAX_PIPELINE)
    assert.equal(pipelineDepth(1), MAX_PIPELINE)
    assert.equal(pipelineDepth(PIPELINE_WINDOW_MS / 4), 4)
    assert.equal(pipelineDepth(PIPELINE_WINDOW_MS / 3), 3)
    assert.equal(pipelineDepth(PIPELINE_WINDOW_MS), MIN_PIPELINE)
    assert.equal(pipelineDepth(60_000), MIN_PIPELINE)
    assert.equal(pipelineDepth(Number.NaN), MIN_PIPELINE)
  })

  it('deepens for a worker whose tasks are short, and only for it; shallows again when they grow long', () => {
    const d = new PipelineDepths()
    assert.equal(d.depth('a'), MIN_PIPELINE)
    assert.equal(d.observe('a', 0), true)
    assert.equal(d.depth('a'), MAX_PIPELINE)
    assert.equal(d.depth('b'), MIN_PIPELINE)
    assert.equal(d.observe('a', 1), false)
    // a job of long tasks: the average follows within a few results
    let changes = 0
    for (let i = 0; i < 20; i++) if (d.observe('a', 1000)) changes++
    assert.equal(d.depth('a'), MIN_PIPELINE)
    assert.ok(changes >= 1)
    // nonsense reports are ignored
    assert.equal(d.observe('b', -5), false)
    assert.equal(d.observe('b', Number.POSITIVE_INFINITY), false)
    assert.equal(d.depth('b'), MIN_PIPELINE)
    d.observe('c', 0)
    d.keep(new Set(['a']))
    assert.equal(d.depth('c'), MIN_PIPELINE)
  })
})
