// What the pages say: durations, sizes, shortened ids, roles in plain words,
// and where the dashboard finds its admin endpoint.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { adminFromHash } from '../src/dashboard.ts'
import { bytes, count, duration, listWords, mib, percent, roleWords, shortDid, shortId } from '../src/format.ts'

describe('format', () => {
  it('says durations in at most two units', () => {
    assert.equal(duration(0), '0 s')
    assert.equal(duration(59_000), '59 s')
    assert.equal(duration(5_400_000), '1 h 30 min')
    assert.equal(duration(86_400_000), '1 day')
    assert.equal(duration(90_061_000), '1 day 1 h')
  })

  it('says sizes and shares', () => {
    assert.equal(mib(512), '512 MiB')
    assert.equal(mib(1024), '1 GiB')
    assert.equal(bytes(1536), '1.5 KiB')
    assert.equal(bytes(0), '0 B')
    assert.equal(percent(0.5), '50%')
    assert.equal(percent(0.042), '4.2%')
  })

  it('shortens ids and keeps the did method', () => {
    const did = 'did:key:z6MkmMHFq6gN6uvKCcFcgnQQJdpa4Sf8P6UvMjDsAGsye25F'
    assert.equal(shortDid(did), 'did:key:z6MkmM…sye25F')
    assert.equal(shortId('short'), 'short')
    assert.equal(shortId('12D3KooWGMQikXvEJ77odRrxyD2N5Zc7nq2MoUnVf9xdbYfrt5yk', 8, 4), '12D3KooW…t5yk')
  })

  it('puts roles in plain words', () => {
    assert.equal(listWords(['compute', 'storage'].map(roleWords)), 'run computations and store encrypted pieces of files')
    assert.equal(roleWords('unknown-role'), 'unknown-role')
  })
})

describe('adminFromHash', () => {
  it('reads the URL-encoded admin URL and the token from the fragment', () => {
    assert.deepEqual(adminFromHash('#admin=ws%3A%2F%2F127.0.0.1%3A42193%2F&token=abc-_1'), { url: 'ws://127.0.0.1:42193/', token: 'abc-_1' })
  })

  it('is undefined when either is missing', () => {
    assert.equal(adminFromHash(''), undefined)
    assert.equal(adminFromHash('#admin=ws%3A%2F%2Fx'), undefined)
    assert.equal(adminFromHash('#token=t'), undefined)
  })
})

describe('counts', () => {
  it('groups thousands and rounds', () => {
    assert.equal(count(40_340_729), '40,340,729')
    assert.equal(count(12.6), '13')
    assert.equal(count(Number.NaN), '–')
  })
})
