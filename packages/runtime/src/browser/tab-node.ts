// A browser tab as a fabric participant (the first part of WebFabricRuntime
// in the browser): it verifies the origin's manifest, takes its identity for
// (origin, epoch) from a keyring the page keeps, joins through the rendezvous
// over WebSockets, and runs the same membership core and capability-guarded
// pub-sub as a Node node. Compute in Web Workers, leases and revocation build
// on this (the browser issue).
import {
  type Identity,
  IDENTITY_ROTATION_MS,
  Keyring,
  type PolicyManifest,
  RevocationSet,
  type SignedManifest,
  epochAt,
  verifyManifest
} from '@webfabric/protocol'
import { topicPrefix } from '../constants.ts'
import { CredentialVerifier } from '../credentials.ts'
import type { Host } from '../host.ts'
import { MEMBERSHIP_NEED, type MemberView, MembershipService } from '../membership-service.ts'
import { libp2pKeyOf } from '../peer-identity.ts'
import { PubSubService } from '../pubsub-service.ts'
import { createTabHost } from './host.ts'

/** Options of a tab node. */
export interface TabNodeInit {
  manifest: SignedManifest
  /** the origin's grants to this tab (encoded capabilities): membership, topics, … */
  credentials: Uint8Array[]
  /** the page's keyring secret (kept by the page, e.g. in IndexedDB); a fresh one when absent */
  keyringSecret?: Uint8Array
  /** rendezvous multiaddrs (…/ws/p2p/<id>); default: the manifest's */
  bootstrap?: string[]
  roles?: string[]
  membership?: { intervalMs?: number, ttlMs?: number }
  /** development and tests only: allow ws:// and private addresses */
  allowInsecureDials?: boolean
  log?: (msg: string) => void
}

/** A browser tab taking part in an origin's fabric. */
export class TabNode {
  readonly init: TabNodeInit
  readonly revocations = new RevocationSet()
  host!: Host
  identity!: Identity
  manifest!: PolicyManifest
  keyring!: Keyring
  membership!: MembershipService
  pubsub!: PubSubService
  private running = false

  constructor (init: TabNodeInit) {
    this.init = init
  }

  get peerId (): string { return this.host.peerId.toString() }
  get did (): string { return this.identity.did }

  /** Verifies the manifest (refusing a bad signature by name), then joins the fabric. */
  async start (): Promise<void> {
    this.manifest = await verifyManifest(this.init.manifest)
    this.keyring = this.init.keyringSecret != null ? await Keyring.fromSecret(this.init.keyringSecret) : await Keyring.generate()
    this.identity = await this.keyring.identityFor(this.manifest.origin, epochAt(Date.now(), IDENTITY_ROTATION_MS))
    this.host = await createTabHost({ privateKey: await libp2pKeyOf(this.identity), allowInsecureDials: this.init.allowInsecureDials })
    const verifier = new CredentialVerifier({ origin: this.manifest.origin, revocations: this.revocations })
    let credential: Uint8Array | undefined
    for (const bytes of this.init.credentials) {
      try {
        await verifier.check(this.host.peerId.toString(), bytes, MEMBERSHIP_NEED)
        credential = bytes
        break
      } catch {}
    }
    if (credential == null) throw new Error(`this tab (${this.identity.did}) holds no membership capability from origin ${this.manifest.origin}`)
    await this.host.start()
    const log = this.init.log ?? (() => {})
    this.membership = new MembershipService(this.host, {
      identity: this.identity,
      credential,
      verifier,
      info: { roles: this.init.roles ?? ['compute'], capacity: { cpus: globalThis.navigator?.hardwareConcurrency ?? 1 }, load: { cpu: 0 }, addrs: [] },
      bootstrap: this.init.bootstrap ?? this.manifest.rendezvous,
      intervalMs: this.init.membership?.intervalMs,
      ttlMs: this.init.membership?.ttlMs,
      log
    })
    const prefix = await topicPrefix(this.manifest.origin)
    this.pubsub = new PubSubService(this.host, { origin: this.manifest.origin, prefix, verifier, grants: this.init.credentials, log })
    this.pubsub.start()
    this.running = true
    await this.membership.start()
  }

  /** The membership view as this tab sees it. */
  members (): MemberView[] { return this.running ? this.membership.view() : [] }

  /** Leaves the fabric (a departure the others see at once) and stops. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.membership.stop()
    this.pubsub.stop()
    await this.host.stop()
  }
}
