// The anchor folder's boundary: everything but local-log.ts is browser-safe,
// and its errors are matched by name and say what to do.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as anchor from '../src/anchor/index.ts'

const dir = new URL('../src/anchor/', import.meta.url)
const NODE_ONLY = new Set(['local-log.ts'])

describe('anchor boundary', () => {
  it('every module but local-log.ts is browser-safe: no node: imports, no Node globals', () => {
    for (const file of readdirSync(dir).filter(f => f.endsWith('.ts') && !NODE_ONLY.has(f))) {
      const text = readFileSync(new URL(file, dir), 'utf8')
      assert.doesNotMatch(text, /from ['"]node:/, `${file} imports a node: module`)
      assert.doesNotMatch(text, /\b(Buffer|process|require)\b[.(]/, `${file} uses a Node global`)
      assert.doesNotMatch(text, /Date\.now|Math\.random|setTimeout/, `${file} reads a clock or randomness`)
      for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
        assert.ok(spec.startsWith('./') || spec.startsWith('multiformats') || spec === '@webfabric/protocol', `${file} imports ${spec}`)
      }
    }
  })

  it('errors carry their name, details and a default message that says what to do', () => {
    const chain = new anchor.AnchorChainError(undefined, { index: 3 })
    const stale = new anchor.StaleAnchorError(undefined, { issuer: 'did:key:z', seq: 2, latestSeq: 5 })
    assert.equal(chain.name, 'AnchorChainError')
    assert.equal(anchor.AnchorChainError.name, 'AnchorChainError')
    assert.equal(chain.index, 3)
    assert.equal(new anchor.AnchorChainError().index, -1)
    assert.equal(stale.name, 'StaleAnchorError')
    assert.equal(anchor.StaleAnchorError.name, 'StaleAnchorError')
    assert.deepEqual([stale.issuer, stale.seq, stale.latestSeq], ['did:key:z', 2, 5])
    assert.match(stale.message, /seq 2 .* \(5\)/)
    for (const e of [chain, stale]) assert.match(e.message, /:/)
    assert.ok(anchor.ANCHOR_ERROR_NAMES.includes('AnchorChainError'))
  })
})
