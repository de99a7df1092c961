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
import { type Identity, decode, encode, verifySignature } from '@webfabric/protocol'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import {
  FRAME_TIMEOUT_MS,
  MAX_MEMBERSHIP_FRAME,
  MEMBERSHIP_INTERVAL_MS,
  MEMBERSHIP_PROTOCOL,
  MEMBERSHIP_TTL_MS
} from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import { publicKeyOfPeer } from './peer-identity.ts'
import { isTransportFailure } from './stream-errors.ts'

/** What a membership frame must be granted by the origin. */
export const MEMBERSHIP_NEED = { resource: 'fabric/membership', ability: 'membership/gossip' }

/** One live member as the node sees it; `lastSeen` is the latest local time it was known alive. */
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
  private readonly outbound = new Map<string, Outbound>()
  /** local time of the last valid frame from each peer: direct evidence it is alive */
  private readonly lastHeard = new Map<string, number>()
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
    for (const peer of [...this.outbound.keys()]) this.dropOutbound(peer)
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
      // the core's lastSeen moves only when a heartbeat version advances (SWIM refreshes
      // rarely); a frame straight from the member is fresher evidence
      lastSeen: Math.max(m.lastSeen, this.lastHeard.get(m.peer) ?? 0),
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
        this.dropOutbound(e.peer)
        this.lastHeard.delete(e.peer)
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
    let out = this.outbound.get(to)
    if (out == null) {
      out = { queue: [], busy: false }
      this.outbound.set(to, out)
    }
    // membership tolerates loss: a slow peer loses its oldest messages, never our memory
    if (out.queue.length >= MAX_QUEUED_PER_PEER) out.queue.shift()
    out.queue.push(message)
    if (!out.busy) await this.flush(to, out)
  }

  /** Write a peer's queued messages on its long-lived stream, opening one when needed. */
  private async flush (to: string, out: Outbound): Promise<void> {
    out.busy = true
    try {
      while (out.queue.length > 0 && this.running) {
        if (out.lp == null) {
          let peer: PeerId
          try {
            peer = peerIdFromString(to)
          } catch {
            out.queue.length = 0
            return
          }
          const stream = await this.host.dialProtocol(peer, MEMBERSHIP_PROTOCOL, { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS) })
          out.stream = stream
          out.lp = lpStream(stream, { maxDataLength: MAX_MEMBERSHIP_FRAME })
          out.sentCredential = false
        }
        const message = out.queue.shift()!
        // the capability travels once per stream; later frames on it are the same peer's
        const frame = out.sentCredential === true ? { m: message } : { c: this.init.credential, m: message }
        const bytes = encode(frame)
        if (bytes.length > MAX_MEMBERSHIP_FRAME) continue
        await out.lp.write(bytes, { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS) })
        out.sentCredential = true
      }
    } catch (err) {
      // an unreachable peer is the failure detector's business, not an error
      this.init.log?.(`membership send to ${to} failed: ${(err as Error).message}`)
      out.stream?.abort(err as Error)
      out.stream = undefined
      out.lp = undefined
      out.queue.length = 0
    } finally {
      out.busy = false
    }
  }

  private dropOutbound (peer: string): void {
    const out = this.outbound.get(peer)
    if (out == null) return
    out.stream?.abort(new Error('member left'))
    this.outbound.delete(peer)
  }

  private async onStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_MEMBERSHIP_FRAME })
    let credential: Uint8Array | undefined
    try {
      for (;;) {
        // the first frame must come promptly; later ones whenever the peer has something to say
        const signal = credential == null ? AbortSignal.timeout(FRAME_TIMEOUT_MS) : AbortSignal.timeout(STREAM_IDLE_MS)
        let data: Awaited<ReturnType<typeof lp.read>>
        try {
          data = await lp.read({ signal })
        } catch (err) {
          // an end before the first byte of a frame is the peer closing its stream, not an
          // offence (lpStream reports it as reading 0 of the length prefix's first byte)
          if (credential != null && (err as Error).name === 'UnexpectedEOFError' && (err as Error).message.includes(' 0/1 bytes')) return
          if (credential != null && signal.aborted) { stream.abort(new Error('idle')); return }
          throw err
        }
        // a frame is not hashed as it is (heartbeats are verified over their re-encoded body)
        const frame = decode(data.subarray(), { maxBytes: MAX_MEMBERSHIP_FRAME, canonical: false })
        if (frame == null || typeof frame !== 'object' || Array.isArray(frame)) throw new TypeError('membership frame must be { c?: capability, m: message }')
        const { c, m } = frame as { c?: unknown, m?: unknown }
        if (c !== undefined) {
          if (!(c instanceof Uint8Array)) throw new TypeError('frame capability must be bytes')
          credential = c
        }
        if (credential == null) throw new TypeError('the first membership frame on a stream must carry a capability')
        await this.init.verifier.check(from, credential, MEMBERSHIP_NEED)
        if (this.core == null) return
        const message = this.core.validateMessage(m)
        for (const hb of this.core.heartbeatsToVerify(message)) {
          if (!await verifyHeartbeat(hb)) throw new TypeError(`forged heartbeat for ${hb.body.peer}`)
        }
        this.lastHeard.set(from, Date.now())
        this.step({ type: 'message', now: Date.now(), from, message })
      }
    } catch (err) {
      // a peer too slow to send its frame (a loaded machine, a slow link) loses this
      // stream, not its connection: only what it sent can make it an offender
      if (isTransportFailure(err)) {
        stream.abort(err as Error)
        return
      }
      this.rejected++
      this.init.log?.(`refused a membership frame from ${from} and disconnected it: ${(err as Error).message}`)
      stream.abort(err as Error)
      disconnect(this.host, conn.remotePeer, err as Error)
    }
  }
}

/** A peer's outbound membership stream and the messages waiting for it. */
interface Outbound {
  queue: MembershipMessage[]
  busy: boolean
  stream?: Stream
  lp?: LengthPrefixedStream<Stream>
  sentCredential?: boolean
}

/** Messages waiting per peer before the oldest are dropped. */
const MAX_QUEUED_PER_PEER = 64

/** An inbound membership stream silent this long is closed (the sender reopens on demand). */
const STREAM_IDLE_MS = 120_000

/** A heartbeat is valid when its author's key (embedded in its peer id) signed its body. */
export async function verifyHeartbeat (hb: Heartbeat): Promise<boolean> {
  try {
    return await verifySignature(publicKeyOfPeer(hb.body.peer), encode(hb.body), hb.sig)
  } catch {
    return false
  }
}
