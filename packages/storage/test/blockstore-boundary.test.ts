// The blockstore folder's boundary: everything but fs.ts is browser-safe,
// and every error is matched by name and says what to do.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as blockstore from '../src/blockstore/index.ts'

const dir = new URL('../src/blockstore/', import.meta.url)
const NODE_ONLY = new Set(['fs.ts'])

describe('blockstore boundary', () => {
  it('every module but fs.ts is browser-safe: no node: imports, no Node globals, only multiformats', () => {
    for (const file of readdirSync(dir).filter(f => f.endsWith('.ts') && !NODE_ONLY.has(f))) {
      const text = readFileSync(new URL(file, dir), 'utf8')
      assert.doesNotMatch(text, /from ['"]node:/, `${file} imports a node: module`)
      assert.doesNotMatch(text, /\b(Buffer|process|require)\b[.(]/, `${file} uses a Node global`)
      assert.doesNotMatch(text, /from '\.\/fs\.ts'/, `${file} imports the Node store`)
      for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
        assert.ok(spec.startsWith('./') || spec.startsWith('multiformats'), `${file} imports ${spec}`)
      }
    }
  })

  it('errors carry their name, details and a default message that says what to do', () => {
    const made: Error[] = [
      new blockstore.BlockNotFoundError('bafk'),
      new blockstore.CorruptBlockError('bafk'),
      new blockstore.QuotaExceededError({ limit: 10, used: 8, requested: 4 }),
      new blockstore.BlockTooLargeError(9, 8),
      new blockstore.InvalidCidError(),
      new blockstore.InvalidBlockError(),
      new blockstore.BlockstoreLockedError()
    ]
    assert.deepEqual(made.map(e => e.name), [...blockstore.BLOCKSTORE_ERROR_NAMES])
    for (const e of made) {
      const Ctor = (blockstore as unknown as Record<string, { name: string }>)[e.name]
      assert.equal(Ctor.name, e.name)
      assert.match(e.message, /:/, `${e.name} says what to do`)
    }
    const q = made[2] as blockstore.QuotaExceededError
    assert.deepEqual([q.limit, q.used, q.requested], [10, 8, 4])
    assert.equal((made[0] as blockstore.BlockNotFoundError).cid, 'bafk')
  })
})
