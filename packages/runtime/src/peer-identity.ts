// Glue between the fabric's identities (did:key, @webfabric/protocol) and
// libp2p peer ids. A node's libp2p key IS its origin-scoped participant key,
// so the peer id a connection authenticates (noise) names the same principal
// that capabilities are addressed to.
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Identity } from '@webfabric/protocol'
import { base58btc } from 'multiformats/bases/base58'

/** The did:key of an Ed25519 public key (multicodec 0xed01, base58btc). */
export function didFromPublicKey (raw: Uint8Array): string {
  const bytes = new Uint8Array(2 + raw.length)
  bytes[0] = 0xed
  bytes[1] = 0x01
  bytes.set(raw, 2)
  return `did:key:${base58btc.encode(bytes)}`
}

/** The did of a peer; throws for peers whose key is not Ed25519 (we only admit those). */
export function didOfPeer (peer: PeerId | string): string {
  return didFromPublicKey(publicKeyOfPeer(peer))
}

/** The raw Ed25519 public key embedded in a peer id. */
export function publicKeyOfPeer (peer: PeerId | string): Uint8Array {
  const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  if (id.type !== 'Ed25519' || id.publicKey == null) throw new TypeError(`peer ${id.toString()} does not have an Ed25519 key`)
  return id.publicKey.raw
}

/** The libp2p private key of a fabric identity (same Ed25519 seed). */
export async function libp2pKeyOf (identity: Identity): Promise<PrivateKey> {
  return generateKeyPairFromSeed('Ed25519', identity.seed)
}
