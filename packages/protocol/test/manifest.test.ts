import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { PolicyManifest } from '../src/index.ts'
import {
  cidString,
  decodeSignedManifest,
  defaultManifest,
  encode,
  encodeSignedManifest,
  manifestCid,
  signManifest,
  signedManifestFromJSON,
  signedManifestToJSON,
  toBase64url,
  validateManifest,
  verifyManifest
} from '../src/index.ts'
import { NOW, cast, flip, refuses } from './fixtures.ts'

const { origin, mallory } = await cast()
const bundleCid = await cidString(encode('bundle bytes'))

/** A manifest with every optional part filled in. */
function full (): PolicyManifest {
  return {
    ...defaultManifest(origin.did, 'demo', NOW),
    version: 3,
    bundles: [{ name: 'main', cid: bundleCid, kind: 'wasm' }],
    roles: ['compute', 'storage', 'relay'],
    redundancy: { replicas: 3, quorum: 2, storageReplicas: 3, erasure: { k: 4, m: 2 } },
    consistency: 'strong',
    rendezvous: ['/ip4/127.0.0.1/tcp/4001/ws']
  }
}

type Json = Record<string, unknown>

/** Every field path of full(), with a value of the wrong type for it. */
const FIELDS: Array<[string, unknown]> = [
  ['v', 'one'],
  ['origin', 42],
  ['name', 42],
  ['version', '3'],
  ['issuedAt', '2024'],
  ['bundles', 'main'],
  ['bundles[0].name', 7],
  ['bundles[0].cid', 7],
  ['bundles[0].kind', 7],
  ['roles', 'compute'],
  ['qos', 7],
  ['qos.cpuShare', '0.5'],
  ['qos.memoryMiB', '512'],
  ['qos.storageMiB', true],
  ['qos.bandwidthKiBps', null],
  ['qos.leaseMaxMs', []],
  ['redundancy', 'x'],
  ['redundancy.replicas', '2'],
  ['redundancy.quorum', '2'],
  ['redundancy.storageReplicas', {}],
  ['redundancy.erasure', 5],
  ['redundancy.erasure.k', '4'],
  ['redundancy.erasure.m', '2'],
  ['consistency', 1],
  ['rendezvous', '/ip4/127.0.0.1']
]

/** The only optional field. */
const OPTIONAL = ['redundancy.erasure']

/** The parent object and last key of a dotted/indexed path in `obj`. */
function locate (obj: Json, path: string): [Json, string] {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.')
  let at: Json = obj
  for (const p of parts.slice(0, -1)) at = at[p] as Json
  return [at, parts[parts.length - 1]]
}

function withField (path: string, change: (parent: Json, key: string) => void): unknown {
  const m = structuredClone(full()) as unknown as Json
  const [parent, key] = locate(m, path)
  change(parent, key)
  return m
}

describe('validateManifest', () => {
  it('accepts the default and a fully specified manifest, returning a copy', () => {
    const d = defaultManifest(origin.did, 'demo', NOW)
    assert.deepEqual(validateManifest(d), d)
    assert.equal(d.redundancy.replicas, 2)
    assert.equal(d.redundancy.quorum, 2)
    assert.equal(d.redundancy.storageReplicas, 3)
    assert.equal(d.qos.cpuShare, 0.5)
    assert.equal(d.qos.memoryMiB, 512)
    const f = full()
    const v = validateManifest(f)
    assert.deepEqual(v, f)
    assert.notEqual(v.qos, f.qos)
  })

  for (const [path, wrong] of FIELDS) {
    it(`names ${path} when it is missing or mistyped`, async () => {
      const without = withField(path, (p, k) => { delete p[k] })
      if (OPTIONAL.includes(path)) {
        validateManifest(without)
      } else {
        const missing = await refuses(() => validateManifest(without), 'ManifestSchemaError')
        assert.equal(missing.field, path)
      }
      const mistyped = await refuses(() => validateManifest(withField(path, (p, k) => { p[k] = wrong })), 'ManifestSchemaError')
      assert.equal(mistyped.field, path)
    })
  }

  it('refuses unknown keys at every level', async () => {
    for (const [path, extra] of [['', 'x'], ['qos', 'gpu'], ['redundancy', 'x'], ['redundancy.erasure', 'x'], ['bundles[0]', 'x']]) {
      const m = structuredClone(full()) as unknown as Json
      const target = path === '' ? m : (() => { const [p, k] = locate(m, path); return p[k] as Json })()
      target[extra] = 1
      const e = await refuses(() => validateManifest(m), 'ManifestSchemaError')
      assert.equal(e.field, path === '' ? extra : `${path}.${extra}`)
    }
  })

  it('refuses out-of-range values, naming the field', async () => {
    const cases: Array<[string, unknown]> = [
      ['v', 2],
      ['origin', 'did:web:example.com'],
      ['name', ''],
      ['name', 'a\nb'],
      ['version', 0],
      ['version', 1.5],
      ['issuedAt', -1],
      ['bundles[0].cid', 'not-a-cid'],
      ['bundles[0].kind', 'python'],
      ['qos.cpuShare', 0],
      ['qos.cpuShare', 1.01],
      ['qos.cpuShare', Number.NaN],
      ['qos.memoryMiB', 0],
      ['qos.memoryMiB', 1.5],
      ['qos.storageMiB', -1],
      ['qos.leaseMaxMs', 0],
      ['redundancy.replicas', 0],
      ['redundancy.replicas', 65],
      ['redundancy.quorum', 4], // more than replicas
      ['redundancy.quorum', 0],
      ['redundancy.erasure.k', 0],
      ['redundancy.erasure.m', 0],
      ['consistency', 'causal'],
      ['rendezvous[0]', 'example.com:4001'],
      ['rendezvous[0]', '/ip4/1.2.3.4 /tcp/1']
    ]
    for (const [path, value] of cases) {
      const e = await refuses(() => validateManifest(withField(path, (p, k) => { p[k] = value })), 'ManifestSchemaError')
      assert.equal(e.field, path, `${path} = ${String(value)}: ${e.message}`)
    }
  })

  it('refuses bad role lists and repeated bundle names', async () => {
    const roles: Array<[unknown, string]> = [[[], 'roles'], [['compute', 'compute'], 'roles'], [['compute', 'gpu'], 'roles[1]']]
    for (const [value, field] of roles) {
      assert.equal((await refuses(() => validateManifest({ ...full(), roles: value }), 'ManifestSchemaError')).field, field)
    }
    const twice = { ...full(), bundles: [full().bundles[0], { ...full().bundles[0] }] }
    assert.equal((await refuses(() => validateManifest(twice), 'ManifestSchemaError')).field, 'bundles[1].name')
  })

  it('refuses things that are not manifests at all', async () => {
    for (const x of [null, 7, 'manifest', [], new Uint8Array(3)]) {
      assert.equal((await refuses(() => validateManifest(x), 'ManifestSchemaError')).field, 'manifest')
    }
  })
})

describe('signManifest / verifyManifest', () => {
  it('signs and verifies', async () => {
    const s = await signManifest(origin, full())
    assert.deepEqual(await verifyManifest(s, { origin: origin.did, currentVersion: 2 }), full())
  })

  it('refuses to sign for another origin', async () => {
    await refuses(signManifest(mallory, full()), 'WrongOriginError')
    await refuses(signManifest(origin, { ...full(), qos: { ...full().qos, cpuShare: 2 } }), 'ManifestSchemaError')
  })

  it('refuses a manifest of another origin than the expected one', async () => {
    const s = await signManifest(mallory, defaultManifest(mallory.did, 'evil', NOW))
    await refuses(verifyManifest(s, { origin: origin.did }), 'WrongOriginError')
  })

  it('refuses a version that is not newer than the current one', async () => {
    const s = await signManifest(origin, full()) // version 3
    await refuses(verifyManifest(s, { currentVersion: 3 }), 'StaleManifestError')
    await refuses(verifyManifest(s, { currentVersion: 7 }), 'StaleManifestError')
    await verifyManifest(s, { currentVersion: 2 })
  })

  it('refuses tampered manifests and signatures', async () => {
    const s = await signManifest(origin, full())
    await refuses(verifyManifest({ ...s, manifest: { ...s.manifest, version: 4 } }), 'InvalidSignatureError')
    await refuses(verifyManifest({ ...s, manifest: { ...s.manifest, qos: { ...s.manifest.qos, cpuShare: 1 } } }), 'InvalidSignatureError')
    await refuses(verifyManifest({ ...s, manifest: { ...s.manifest, rendezvous: ['/ip4/6.6.6.6/tcp/1'] } }), 'InvalidSignatureError')
    await refuses(verifyManifest({ ...s, sig: flip(s.sig, 10) }), 'InvalidSignatureError')
    // re-pointed at another origin key: the signature no longer matches
    await refuses(verifyManifest({ ...s, manifest: { ...s.manifest, origin: mallory.did } }), 'InvalidSignatureError')
    // mallory signs a manifest naming the origin: the origin's key does not verify it
    const sig = (await signManifest(mallory, { ...full(), origin: mallory.did })).sig
    await refuses(verifyManifest({ manifest: full(), sig }), 'InvalidSignatureError')
    await refuses(verifyManifest({ manifest: full(), sig: new Uint8Array(10) }), 'ManifestSchemaError')
    await refuses(verifyManifest({ manifest: full() } as never), 'ManifestSchemaError')
  })
})

describe('manifest files and bytes', () => {
  it('JSON round-trips through text and still verifies', async () => {
    const s = await signManifest(origin, full())
    const text = JSON.stringify(signedManifestToJSON(s), null, 2)
    const back = signedManifestFromJSON(text)
    assert.deepEqual(await verifyManifest(back, { origin: origin.did }), full())
    assert.deepEqual(await verifyManifest(signedManifestFromJSON(JSON.parse(text))), full())
  })

  it('keeps fractional QoS exact through JSON', async () => {
    await fc.assert(fc.asyncProperty(fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }), async cpuShare => {
      const m = { ...full(), qos: { ...full().qos, cpuShare } }
      const text = JSON.stringify(signedManifestToJSON(await signManifest(origin, m)))
      assert.equal((await verifyManifest(signedManifestFromJSON(text))).qos.cpuShare, cpuShare)
    }), { numRuns: 30 })
  })

  it('refuses a tampered JSON file', async () => {
    const json = signedManifestToJSON(await signManifest(origin, full())) as unknown as { manifest: Json, signature: string }
    json.manifest.version = 99
    await refuses(verifyManifest(signedManifestFromJSON(json)), 'InvalidSignatureError')
  })

  it('refuses malformed JSON files, naming the field', async () => {
    const good = signedManifestToJSON(await signManifest(origin, full()))
    const cases: Array<[unknown, string]> = [
      ['{not json', 'manifest'],
      [{ manifest: good.manifest }, 'signature'],
      [{ ...good, signature: 'AA==' }, 'signature'],
      [{ ...good, signature: toBase64url(new Uint8Array(10)) }, 'signature'],
      [{ ...good, extra: 1 }, 'extra'],
      [{ ...good, manifest: { ...good.manifest, qos: { ...good.manifest.qos, cpuShare: 5 } } }, 'qos.cpuShare'],
      [null, 'manifest']
    ]
    for (const [value, field] of cases) {
      assert.equal((await refuses(() => signedManifestFromJSON(value), 'ManifestSchemaError')).field, field)
    }
  })

  it('binary round-trips; bad bytes are MalformedError, bad shapes ManifestSchemaError', async () => {
    const s = await signManifest(origin, full())
    const back = decodeSignedManifest(encodeSignedManifest(s))
    assert.deepEqual(await verifyManifest(back), full())
    await refuses(() => decodeSignedManifest(new Uint8Array([0xff])), 'MalformedError')
    await refuses(() => decodeSignedManifest(encodeSignedManifest(s), { maxBytes: 10 }), 'MalformedError')
    await refuses(() => decodeSignedManifest(encode({ manifest: full(), sig: 'x' })), 'ManifestSchemaError')
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), bytes => {
      try {
        decodeSignedManifest(bytes)
      } catch (err) {
        assert.ok(['MalformedError', 'ManifestSchemaError'].includes((err as Error).name), String(err))
      }
    }), { numRuns: 500 })
  })

  it('names a manifest version by CID, independent of key order', async () => {
    const m = full()
    const reordered = Object.fromEntries(Object.entries(m).reverse()) as unknown as PolicyManifest
    assert.equal(await manifestCid(m), await manifestCid(reordered))
    assert.notEqual(await manifestCid(m), await manifestCid({ ...m, version: 4 }))
  })
})
