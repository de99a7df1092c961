// How a participant page joins: fetch the origin's manifest from the node that
// serves the page and verify it, then — once the person has consented — derive
// the tab's origin-scoped identity, ask the node to enrol it, and start a
// TabNode under the chosen lease (holding storage when the person lends some
// and the node delegates storage/hold). Browser-safe.
import {
  IDENTITY_ROTATION_MS,
  Keyring,
  type PolicyManifest,
  type SignedManifest,
  epochAt,
  fromBase64url,
  signedManifestFromJSON,
  verifyManifest
} from '@webfabric/protocol'
import { fetchManifest, requestJoin } from '../web-wire.ts'
import { checkLeaseChoice } from './lease-choice.ts'
import { TabNode } from './tab-node.ts'
import type { TabLeaseChoice } from './types.ts'

/** The origin's manifest, fetched and verified (a bad signature rejects with InvalidSignatureError). */
export async function loadOrigin (base?: string | URL): Promise<{ signed: SignedManifest, manifest: PolicyManifest }> {
  const signed = signedManifestFromJSON(await fetchManifest(base))
  const manifest = await verifyManifest(signed)
  return { signed, manifest }
}

/** Options of {@link joinFabric}. */
export interface JoinFabricInit {
  signed: SignedManifest
  manifest: PolicyManifest
  choice: TabLeaseChoice
  /** the tab's keyring secret; a fresh one when absent */
  keyringSecret?: Uint8Array
  /** the bundled sandbox worker script */
  workerUrl: string | URL
  /** the node serving the page (default: the page's own location) */
  base?: string | URL
  /** local fabrics on loopback only: allow ws:// and private addresses */
  allowInsecureDials?: boolean
  membership?: { intervalMs?: number, ttlMs?: number }
  log?: (msg: string) => void
}

/** Enrol this tab and start it: it computes under the lease until revoked, expired or closed. */
export async function joinFabric (init: JoinFabricInit): Promise<TabNode> {
  const choice = checkLeaseChoice(init.manifest, init.choice)
  const keyring = init.keyringSecret != null ? await Keyring.fromSecret(init.keyringSecret) : await Keyring.generate()
  const identity = await keyring.identityFor(init.manifest.origin, epochAt(Date.now(), IDENTITY_ROTATION_MS))
  const grant = await requestJoin({ did: identity.did, durationMs: choice.durationMs, storageMiB: choice.storageMiB }, init.base)
  const tab = new TabNode({
    manifest: init.signed,
    credentials: grant.credentials.map(c => fromBase64url(c)),
    keyringSecret: keyring.secret,
    bootstrap: grant.bootstrap.length > 0 ? grant.bootstrap : undefined,
    allowInsecureDials: init.allowInsecureDials,
    compute: { workerUrl: init.workerUrl },
    // the tab may compute only while the origin's grant lasts
    lease: { ...choice, durationMs: Math.min(choice.durationMs, Math.max(0, grant.expiresAt - Date.now())) },
    membership: init.membership,
    log: init.log
  })
  await tab.start()
  return tab
}
