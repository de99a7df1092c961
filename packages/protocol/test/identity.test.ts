import assert from 'node:assert/strict'
import { hkdfSync } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { base58btc } from 'multiformats/bases/base58'
import {
  IDENTITY_ROTATION_MS,
  Identity,
  Keyring,
  didFromPublicKey,
  epochAt,
  publicKeyFromDid,
  verifySignature
} from '../src/index.ts'
import { flip, refuses } from './fixtures.ts'

const hex = (s: string): Uint8Array => Uint8Array.from((s.match(/../g) ?? []).map(b => Number.parseInt(b, 16)))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// RFC 8032 §7.1, test 1 and test 2.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'
  }
]

describe('Identity', () => {
  it('derives the RFC 8032 keys and signatures from seeds', async () => {
    for (const v of RFC8032) {
      const id = await Identity.fromSeed(hex(v.seed))
      assert.equal(toHex(id.publicKey), v.pub)
      assert.equal(toHex(await id.sign(hex(v.msg))), v.sig)
      assert.equal(await verifySignature(id.publicKey, hex(v.msg), hex(v.sig)), true)
    }
  })

  it('names itself by did:key (multicodec 0xed01, base58btc)', async () => {
    const id = await Identity.fromSeed(hex(RFC8032[0].seed))
    assert.match(id.did, /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+$/)
    const raw = base58btc.decode(id.did.slice('did:key:'.length))
    assert.deepEqual(raw.subarray(0, 2), Uint8Array.from([0xed, 0x01]))
    assert.deepEqual(raw.subarray(2), id.publicKey)
    assert.deepEqual(publicKeyFromDid(id.did), id.publicKey)
    assert.equal(didFromPublicKey(id.publicKey), id.did)
  })

  it('is deterministic from its seed and restorable from `seed`', async () => {
    const a = await Identity.generate()
    const b = await Identity.fromSeed(a.seed)
    assert.equal(a.did, b.did)
    const data = new TextEncoder().encode('same key')
    assert.deepEqual(await a.sign(data), await b.sign(data))
  })

  it('hands out copies of its seed and public key', async () => {
    const id = await Identity.generate()
    const seed = id.seed
    seed.fill(0)
    id.publicKey.fill(0)
    assert.notDeepEqual(id.seed, seed)
    assert.deepEqual(publicKeyFromDid(id.did), id.publicKey)
  })

  it('generates distinct identities', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
    assert.equal(new Set(ids.map(i => i.did)).size, 8)
  })

  it('refuses seeds that are not 32 bytes', async () => {
    await refuses(Identity.fromSeed(new Uint8Array(31)), 'MalformedError')
    await refuses(Identity.fromSeed('x'.repeat(32) as unknown as Uint8Array), 'MalformedError')
  })
})

describe('verifySignature', () => {
  it('accepts exactly the signed data under the signer key', async () => {
    const [a, b] = await Promise.all([Identity.generate(), Identity.generate()])
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async data => {
      const sig = await a.sign(data)
      assert.equal(await verifySignature(a.publicKey, data, sig), true)
      assert.equal(await verifySignature(b.publicKey, data, sig), false)
      assert.equal(await verifySignature(a.publicKey, data, flip(sig, data.length % 64)), false)
      if (data.length > 0) assert.equal(await verifySignature(a.publicKey, flip(data, 0), sig), false)
    }), { numRuns: 50 })
  })

  it('returns false, never throws, on malformed input', async () => {
    const a = await Identity.generate()
    const data = new Uint8Array([1, 2, 3])
    const sig = await a.sign(data)
    const cases: unknown[][] = [
      [a.publicKey.subarray(1), data, sig],
      [a.publicKey, data, sig.subarray(1)],
      [new Uint8Array(32).fill(0xff), data, sig],
      [null, data, sig],
      [a.publicKey, 'abc', sig],
      [a.publicKey, data, [...sig]],
      [undefined, undefined, undefined]
    ]
    for (const c of cases) assert.equal(await verifySignature(...(c as [Uint8Array, Uint8Array, Uint8Array])), false)
  })

  it('refuses the malleable twin of a signature (S + L)', async () => {
    const a = await Identity.generate()
    const data = new Uint8Array([9])
    const sig = await a.sign(data)
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    let s = 0n
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i])
    let twin = s + L
    const sig2 = new Uint8Array(sig)
    for (let i = 0; i < 32; i++) { sig2[32 + i] = Number(twin & 0xffn); twin >>= 8n }
    assert.equal(await verifySignature(a.publicKey, data, sig2), false)
  })
})

describe('publicKeyFromDid', () => {
  it('refuses anything but an Ed25519 did:key', async () => {
    const id = await Identity.generate()
    const secp = `did:key:${base58btc.encode(Uint8Array.from([0xe7, 0x01, ...new Uint8Array(33).fill(2)]))}`
    const short = `did:key:${base58btc.encode(Uint8Array.from([0xed, 0x01, ...new Uint8Array(31).fill(2)]))}`
    const bad = [
      '', 'did:web:example.com', `did:key:${id.did.slice(9)}`, secp, short, `${id.did}x`, 'did:key:z0OIl',
      id.did.replace('did:key', 'DID:KEY'), 42, null
    ]
    for (const did of bad) {
      const e = await refuses(() => publicKeyFromDid(did as string), 'MalformedError')
      assert.equal(e.field, 'did')
    }
  })
})

describe('Keyring', () => {
  const secret = new Uint8Array(32).fill(7)

  it('derives seeds with HKDF-SHA256 (salt webfabric/identity/v1, info origin\\nepoch)', async () => {
    const ring = await Keyring.fromSecret(secret)
    const id = await ring.identityFor('did:key:z6MkOrigin', 12)
    const expected = new Uint8Array(hkdfSync('sha256', secret, 'webfabric/identity/v1', 'did:key:z6MkOrigin\n12', 32))
    assert.deepEqual(id.seed, expected)
  })

  it('gives the same identity for the same (secret, origin, epoch)', async () => {
    const a = await Keyring.fromSecret(secret)
    const b = await Keyring.fromSecret(new Uint8Array(secret))
    assert.equal((await a.identityFor('https://a.example', 3)).did, (await b.identityFor('https://a.example', 3)).did)
    assert.deepEqual(a.secret, secret)
  })

  it('gives unlinkable identities across origins, epochs and secrets', async () => {
    const ring = await Keyring.fromSecret(secret)
    const other = await Keyring.generate()
    await fc.assert(fc.asyncProperty(
      fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.nat({ max: 1000 })),
      fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.nat({ max: 1000 })),
      async ([o1, e1], [o2, e2]) => {
        const a = await ring.identityFor(o1, e1)
        const b = await ring.identityFor(o2, e2)
        assert.equal(a.did === b.did, o1 === o2 && e1 === e2)
        assert.notEqual((await other.identityFor(o1, e1)).did, a.did)
        assert.notDeepEqual(a.seed, secret)
      }
    ), { numRuns: 60 })
  })

  it('refuses bad secrets, origins and epochs', async () => {
    await refuses(Keyring.fromSecret(new Uint8Array(16)), 'MalformedError')
    const ring = await Keyring.generate()
    await refuses(ring.identityFor('', 1), 'MalformedError')
    await refuses(ring.identityFor('o', -1), 'MalformedError')
    await refuses(ring.identityFor('o', 1.5), 'MalformedError')
  })
})

describe('epochAt', () => {
  it('counts whole rotation periods', () => {
    assert.equal(IDENTITY_ROTATION_MS, 7 * 24 * 3600 * 1000)
    assert.equal(epochAt(0), 0)
    assert.equal(epochAt(IDENTITY_ROTATION_MS - 1), 0)
    assert.equal(epochAt(IDENTITY_ROTATION_MS), 1)
    assert.equal(epochAt(2500, 1000), 2)
  })

  it('refuses nonsense', async () => {
    await refuses(() => epochAt(-1, 1000), 'MalformedError')
    await refuses(() => epochAt(1, 0), 'MalformedError')
    await refuses(() => epochAt(Number.NaN, 1000), 'MalformedError')
  })
})
