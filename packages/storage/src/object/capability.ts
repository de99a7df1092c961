// Read capabilities (Tahoe-LAFS's model): the root CID says *what* (and lets
// any holder verify every block without the key); the key says *who may read*.
// The text form is `wf-read:<root cid, base32>:<key, base64url>`.
import { fromBase64url, toBase64url } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { MalformedCapabilityError } from './errors.ts'

/** Bytes of an object key (AES-256). */
export const KEY_BYTES = 32
const PREFIX = 'wf-read:'
const MAX_CAP_CHARS = 256

/** A read capability: the object's root CID and its key. */
export interface ReadCapability { root: CID, key: Uint8Array }

/** The text form of a read capability. */
export function formatReadCap (cap: ReadCapability): string {
  return `${PREFIX}${cap.root.toString()}:${toBase64url(cap.key)}`
}

/** Parses `wf-read:<cid>:<key>`; MalformedCapabilityError for anything else (truncated, wrong kind, bad key length). */
export function parseReadCap (text: unknown): ReadCapability {
  if (typeof text !== 'string' || text.length > MAX_CAP_CHARS) throw new MalformedCapabilityError()
  const s = text.trim()
  if (!s.startsWith(PREFIX)) throw new MalformedCapabilityError()
  const parts = s.slice(PREFIX.length).split(':')
  if (parts.length !== 2) throw new MalformedCapabilityError()
  let root: CID
  try {
    root = CID.parse(parts[0])
  } catch {
    throw new MalformedCapabilityError('the root CID of this capability does not parse: it was truncated or mistyped')
  }
  if (root.version !== 1 || root.code !== 0x71 || root.multihash.code !== 0x12) {
    throw new MalformedCapabilityError('the root of a read capability is a CIDv1 dag-cbor sha2-256 link')
  }
  let key: Uint8Array
  try {
    key = fromBase64url(parts[1])
  } catch {
    throw new MalformedCapabilityError('the key of this capability is not base64url: it was truncated or mistyped')
  }
  if (key.length !== KEY_BYTES) throw new MalformedCapabilityError(`the key of this capability has ${key.length} bytes, not ${KEY_BYTES}: it was truncated`)
  return { root, key }
}

/** A verify capability: the root alone, enough to check and repair blocks, never to read them. */
export function parseRoot (text: unknown): CID {
  if (typeof text === 'string' && text.startsWith(PREFIX)) return parseReadCap(text).root
  try {
    const cid = CID.parse(String(text))
    if (cid.version === 1 && cid.code === 0x71) return cid
  } catch {}
  throw new MalformedCapabilityError('expected a read capability (wf-read:…) or an object root CID (bafy…)')
}
