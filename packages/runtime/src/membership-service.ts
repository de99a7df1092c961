// The real driver of the membership core (@webfabric/membership): libp2p
// streams carry its messages, real timers fire its ticks, WebCrypto signs and
// verifies its heartbeats. The core itself is the same one the simulator runs.
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  type Heartbeat,
  type MemberInfo,
  Membership,
  type MembershipEffect,
  type MembershipInput,
  type MembershipMessage
} from '@webfabric/membership'
import { type Identity, encode, verifySignature } from '@webfabric/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import {
  FRAME_TIMEOUT_MS,
  MAX_MEMBERSHIP_FRAME,
  MEMBERSHIP_INTERVAL_MS,
  MEMBERSHIP_PROTOCOL,
  MEMBERSHIP_TTL_MS
} from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { readFrame, writeFrame } from './framing.ts'
import type { Host } from './host.ts'
import { publicKeyOfPeer } from './peer-identity.ts'

/** What a membership frame must be granted by the origin. */
export const MEMBERSHIP_NEED = { resource: 'fabric/membership', ability: 'membership/gossip' }

/** One live member as the node sees it. */
export interface MemberView {
  peerId: string
  roles: string[]
  capacity: Record<string, number>
  load: Record<string, number>
  addrs: string[]
  lastSeen: number
  incarnation: number
  self: boolean
}

/** Options of {@link MembershipService}. */
export interface MembershipServiceInit {
  identity: Identity
  /** This node's membership capability (encoded), presented with every frame. */
  credential: Uint8Array
  verifier: CredentialVerifier
  info: MemberInfo
  /** Multiaddrs (with /p2p/) of bootstrap peers, typically the rendezvous. */
  bootstrap: string[]
  intervalMs?: number
  ttlMs?: number
  log?: (msg: string) => void
}

/** Events: `join`, `leave`, `update` (CustomEvent<{ peerId, reason? }>). */
export class MembershipService extends EventTarget {
  private readonly host: Host
  private readonly init: MembershipServiceInit
  private core?: Membership
  private readonly timers = new Set<number>()
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  /** frames refused for bad shape, size, signature or capability */
  rejected = 0

  constructor (host: Host, init: MembershipServiceInit) {
    super()
    this.host = host
    this.init = init
  }

  async start (): Promise<void> {
    const self = this.host.peerId.toString()
    const seeds: string[] = []
    for (const addr of this.init.bootstrap) {
      const ma = multiaddr(addr)
      const peer = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      if (peer == null) throw new TypeError(`bootstrap address ${addr} has no /p2p/<peer id>`)
      if (peer === self) continue
      await this.host.peerStore.merge(peerIdFromString(peer), { multiaddrs: [ma] })
      seeds.push(peer)
    }
    const seed = new Uint32Array(1)
    globalThis.crypto.getRandomValues(seed)
    this.core = new Membership({
      self,
      info: this.init.info,
      incarnation: Date.now(),
      seed: seed[0],
      seeds,
      intervalMs: this.init.intervalMs ?? MEMBERSHIP_INTERVAL_MS,
      ttlMs: this.init.ttlMs ?? MEMBERSHIP_TTL_MS
    })
    await this.host.handle(MEMBERSHIP_PROTOCOL, (stream, conn) => { void this.onStream(stream, conn) }, {
      maxInboundStreams: 64
    })
    this.running = true
    this.step({ type: 'start', now: Date.now() })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.step({ type: 'leave', now: Date.now() })
    this.running = false
    clearTimeout(this.timer)
    this.timers.clear()
    await this.host.unhandle(MEMBERSHIP_PROTOCOL)
  }

  /** Live members, self included. */
  view (): MemberView[] {
    if (this.core == null) return []
    const self = this.host.peerId.toString()
    return this.core.view().map(m => ({
      peerId: m.peer,
      roles: m.heartbeat.body.roles,
      capacity: m.heartbeat.body.capacity,
      load: m.heartbeat.body.load,
      addrs: m.heartbeat.body.addrs,
      lastSeen: m.lastSeen,
      incarnation: m.heartbeat.body.inc,
      self: m.peer === self
    }))
  }

  /** Tell the fabric that this node's roles, capacity, load or addresses changed. */
  update (info: Partial<MemberInfo>): void {
    this.step({ type: 'update', now: Date.now(), info })
  }

  private step (input: MembershipInput): void {
    if (this.core == null) return
    if (!this.running && input.type !== 'start' && input.type !== 'leave') return
    let effects: MembershipEffect[]
    try {
      effects = this.core.step(input)
    } catch (err) {
      this.init.log?.(`membership core refused input ${input.type}: ${(err as Error).message}`)
      return
    }
    for (const e of effects) this.apply(e)
  }

  private apply (e: MembershipEffect): void {
    switch (e.type) {
      case 'send':
        void this.send(e.to, e.message)
        break
      case 'timer':
        this.schedule(e.at)
        break
      case 'sign':
        void this.init.identity.sign(encode(e.body)).then(sig => {
          this.step({ type: 'signed', now: Date.now(), heartbeat: { body: e.body, sig } })
        }, err => this.init.log?.(`signing a heartbeat failed: ${(err as Error).message}`))
        break
      case 'join':
      case 'update':
        void this.learnAddrs(e.peer, e.heartbeat)
        this.dispatchEvent(new CustomEvent(e.type, { detail: { peerId: e.peer } }))
        break
      case 'leave':
        this.dispatchEvent(new CustomEvent('leave', { detail: { peerId: e.peer, reason: e.reason } }))
        break
    }
  }

  private schedule (at: number): void {
    this.timers.add(at)
    this.rearm()
  }

  private rearm (): void {
    if (!this.running && this.timers.size === 0) return
    clearTimeout(this.timer)
    if (this.timers.size === 0) return
    const next = Math.min(...this.timers)
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - Date.now()))
  }

  private fire (): void {
    const now = Date.now()
    for (const t of this.timers) if (t <= now) this.timers.delete(t)
    this.step({ type: 'tick', now })
    this.rearm()
  }

  private async learnAddrs (peer: string, hb: Heartbeat): Promise<void> {
    if (peer === this.host.peerId.toString()) return
    try {
      const addrs = hb.body.addrs.slice(0, 16).map(a => multiaddr(a))
      await this.host.peerStore.merge(peerIdFromString(peer), { multiaddrs: addrs })
    } catch (err) {
      this.init.log?.(`ignoring bad addresses of ${peer}: ${(err as Error).message}`)
    }
  }

  private async send (to: string, message: MembershipMessage): Promise<void> {
    if (!this.running) return
    let peer: PeerId
    try {
      peer = peerIdFromString(to)
    } catch {
      return
    }
    const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
    try {
      const stream = await this.host.dialProtocol(peer, MEMBERSHIP_PROTOCOL, { signal })
      await writeFrame(stream, { c: this.init.credential, m: message }, { maxBytes: MAX_MEMBERSHIP_FRAME, signal })
    } catch (err) {
      // an unreachable peer is the failure detector's business, not an error
      this.init.log?.(`membership send to ${to} failed: ${(err as Error).message}`)
    }
  }

  private async onStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
    try {
      const frame = await readFrame(stream, { maxBytes: MAX_MEMBERSHIP_FRAME, signal })
      if (frame == null || typeof frame !== 'object' || !((frame as { c?: unknown }).c instanceof Uint8Array)) {
        throw new TypeError('membership frame must be { c: capability bytes, m: message }')
      }
      const { c, m } = frame as { c: Uint8Array, m: unknown }
      await this.init.verifier.check(from, c, MEMBERSHIP_NEED)
      if (this.core == null) return
      const message = this.core.validateMessage(m)
      for (const hb of this.core.heartbeatsToVerify(message)) {
        if (!await verifyHeartbeat(hb)) throw new TypeError(`forged heartbeat for ${hb.body.peer}`)
      }
      await stream.close({ signal }).catch(() => {})
      this.step({ type: 'message', now: Date.now(), from, message })
    } catch (err) {
      this.rejected++
      this.init.log?.(`refused a membership frame from ${from} and disconnected it: ${(err as Error).message}`)
      stream.abort(err as Error)
      await this.host.hangUp(conn.remotePeer).catch(() => {})
    }
  }
}

/** A heartbeat is valid when its author's key (embedded in its peer id) signed its body. */
export async function verifyHeartbeat (hb: Heartbeat): Promise<boolean> {
  try {
    return await verifySignature(publicKeyOfPeer(hb.body.peer), encode(hb.body), hb.sig)
  } catch {
    return false
  }
}
