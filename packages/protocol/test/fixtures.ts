// Shared test fixtures: fixed identities (so failures replay), a fixed
// clock, and assertions on refusals by error name.
import assert from 'node:assert/strict'
import type { Capability, CapabilityPayload } from '../src/index.ts'
import { CAPABILITY_DOMAIN, Identity, PROTOCOL_ERROR_NAMES, decodeCapability, encode, signingInput } from '../src/index.ts'

/** A fixed "now" for every test: 2024-01-01T00:00:00Z. */
export const NOW = Date.UTC(2024, 0, 1)
/** One hour in ms. */
export const HOUR = 60 * 60 * 1000

/** The identity whose seed is 32 copies of byte `n`. */
export async function fixedIdentity (n: number): Promise<Identity> {
  return Identity.fromSeed(new Uint8Array(32).fill(n))
}

/** Four fixed identities: the origin (root authority), and three holders down a delegation chain. */
export async function cast (): Promise<{ origin: Identity, alice: Identity, bob: Identity, carol: Identity, mallory: Identity }> {
  const [origin, alice, bob, carol, mallory] = await Promise.all([1, 2, 3, 4, 5].map(fixedIdentity))
  return { origin, alice, bob, carol, mallory }
}

/** Asserts that `p` (or calling it) fails with an error named `name`; returns that error. */
export async function refuses (p: Promise<unknown> | (() => unknown), name: string): Promise<Error & Record<string, unknown>> {
  let caught: unknown
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    caught = err
  }
  assert.ok(caught !== undefined, `expected ${name}, but nothing was thrown`)
  assert.equal((caught as Error).name, name, `expected ${name}, got ${(caught as Error).name}: ${(caught as Error).message}`)
  return caught as Error & Record<string, unknown>
}

/** True when `e` is one of the protocol's named errors. */
export function isProtocolError (e: unknown): boolean {
  return (PROTOCOL_ERROR_NAMES as readonly string[]).includes((e as Error)?.name)
}

/**
 * Mints a token the way an attacker (or a buggy peer) would: any payload, signed by `signer`,
 * bypassing issue()'s eager checks. Decoded back so it is an ordinary token object.
 */
export async function mintRaw (signer: Identity, payload: Partial<CapabilityPayload> & Record<string, unknown>, parent?: Capability): Promise<Capability> {
  const full = {
    v: 1,
    iss: signer.did,
    aud: signer.did,
    res: '*',
    can: ['*'],
    cav: {},
    nbf: NOW,
    exp: NOW + HOUR,
    nnc: 'raw',
    prf: [],
    ...payload,
    ...(parent === undefined ? {} : { prf: [parent.bytes] })
  }
  const sig = await signer.sign(signingInput(CAPABILITY_DOMAIN, full))
  return decodeCapability(encode({ payload: full, sig }))
}

/** A copy of `bytes` with the byte at `at` XOR-ed by `mask`. */
export function flip (bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const out = new Uint8Array(bytes)
  out[at] ^= mask
  return out
}

/** Index of the first occurrence of `needle` in `hay`, or -1. */
export function indexOfBytes (hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}
