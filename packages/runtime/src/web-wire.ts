// The HTTP contract between the participant page and the node that serves it
// (`webfabric start --web`): the origin's signed manifest, and enrolment — the
// node delegates its membership capability (and, when the person lends
// storage, its storage/hold capability) to the tab's origin-scoped identity
// for no longer than the lease the person chose. Browser-safe.
import type { SignedManifestJSON } from '@webfabric/protocol'

/** GET: the origin's signed manifest (SignedManifestJSON). */
export const MANIFEST_PATH = '/fabric/manifest'
/** POST JoinRequest → JoinResponse (or ErrorResponse with a 4xx status). */
export const JOIN_PATH = '/fabric/join'
/** Largest join request body, bytes. */
export const MAX_JOIN_BODY = 4096

/** What a tab asks for when it joins. */
export interface JoinRequest {
  /** the tab's origin-scoped identity (did:key, Ed25519) */
  did: string
  /** how long the person lends the device, ms; the grant lasts no longer */
  durationMs: number
  /** storage the person lends, MiB (absent or 0: none); the node then also delegates storage/hold */
  storageMiB?: number
}

/** What the node grants a tab. */
export interface JoinResponse {
  /** capabilities delegated to the tab (base64url): membership, and storage/hold when storage was asked for and the node holds it */
  credentials: string[]
  /** when they expire (ms since the epoch) */
  expiresAt: number
  /** multiaddrs of the rendezvous the tab can dial (WebSockets, with /p2p/) */
  bootstrap: string[]
}

/** An error the server answers with. */
export interface ErrorResponse { error: { name: string, message: string } }

/** Thrown by the page's requests when the server refuses or cannot be reached. */
export class JoinRefusedError extends Error {
  static name = 'JoinRefusedError'
  constructor (message = 'the node refused to enrol this tab', options?: ErrorOptions) {
    super(message, options)
    this.name = 'JoinRefusedError'
  }
}

async function json<T> (res: Response, what: string): Promise<T> {
  let body: unknown
  try { body = await res.json() } catch { throw new JoinRefusedError(`${what}: the node answered ${res.status} with something that is not JSON`) }
  if (!res.ok) {
    const e = (body as ErrorResponse)?.error
    throw new JoinRefusedError(`${what}: ${typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`}`)
  }
  return body as T
}

/** Fetch the origin's signed manifest from the serving node (verify it before trusting it). */
export async function fetchManifest (base: string | URL = globalThis.location?.href, init: { signal?: AbortSignal } = {}): Promise<SignedManifestJSON> {
  return await json<SignedManifestJSON>(await fetch(new URL(MANIFEST_PATH, base), { signal: init.signal }), 'fetching the manifest')
}

/** Ask the serving node to enrol this tab's identity. */
export async function requestJoin (req: JoinRequest, base: string | URL = globalThis.location?.href, init: { signal?: AbortSignal } = {}): Promise<JoinResponse> {
  const res = await fetch(new URL(JOIN_PATH, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(req),
    signal: init.signal
  })
  return await json<JoinResponse>(res, 'joining the fabric')
}
