// WebFabricGossip: SWIM-style membership as a pure state machine.
//
//  - failure detection: one probe per period (round-robin over a shuffled
//    view), indirect probes through k helpers, then suspicion; a suspected
//    member is removed after `ttlMs` unless it refutes with a newer signed
//    heartbeat. A suspicion is an unsigned claim that only starts a timer, so a
//    liar can make a live member refute but cannot remove it.
//  - dissemination: new records (heartbeats, suspicions) are piggybacked on
//    probes and pushed to `fanout` members every `gossipMs`, each record a
//    bounded number of times (infection style).
//  - anti-entropy: every ~`syncMs` a digest exchange (XOR of record hashes per
//    bucket) with a random member — sometimes a seed or a removed peer, which
//    is what heals partitions — repairs whatever dissemination missed.
//
// No clock, randomness or I/O: time arrives with each input, randomness from
// `init.seed`, and everything to do leaves as effects.

import { BroadcastQueue, JOIN, UPDATE, URGENT } from './broadcast.ts'
import {
  DIGEST_LOAD, FANOUT, GOSSIP_MS, GOSSIP_RECORDS, INDIRECT_PROBES, INTERVAL_MS, MAX_BUCKETS, MAX_JOIN_QUEUE, MAX_PIGGYBACK, MAX_QUEUE,
  MIN_UPDATE_MS, PAGE_RECORDS, PAGE_VERSIONS, SUMMARY_VERSIONS, PROBE_TIMEOUT_FRACTION, RETRANSMIT_MULT, SYNC_MS, SYNC_OUTSIDE_SHARE,
  TOMBSTONE_MS, TTL_MS
} from './constants.ts'
import { hashPeer, hashRecord } from './hash.ts'
import { PeerIndex } from './peer-index.ts'
import { Prng } from '@webfabric/protocol'
import type {
  Heartbeat, HeartbeatBody, Member, MemberInfo, MembershipEffect, MembershipInit, MembershipInput,
  MembershipMessage, MemberStatus, Records, Suspicion, SyncPushMessage, SyncSummaryMessage, Version
} from './types.ts'
import { validateMessage } from './validate.ts'

// A suspected member: since when (local time), the version accused, when we
// last told the member itself, and whether we gossiped the suspicion (then
// its refutation is gossiped as urgently).
interface Sus {
  at: number
  inc: number
  seq: number
  told: number
  spread: boolean
}

interface Tomb {
  inc: number
  seq: number
  at: number
  // the final heartbeat of a graceful leave (disseminated as is)
  hb: Heartbeat | undefined
  h: number
  toldAt: number
}

interface Probe {
  target: string
  nonce: number
  inc: number
  seq: number
  acked: boolean
  indirect: boolean
  timeoutAt: number
}

interface Relay {
  requester: string
  nonce: number
  until: number
}

interface Config {
  intervalMs: number
  ttlMs: number
  fanout: number
  gossipMs: number
  probeTimeoutMs: number
  indirectProbes: number
  syncMs: number
  tombstoneMs: number
  minUpdateMs: number
  maxPiggyback: number
  retransmitMult: number
  maxQueue: number
  maxJoinQueue: number
}

const SUSPECT_KEY = '\u0001'
const MASK = MAX_BUCKETS - 1
const MAX_REFUTE_TO = 32
const MAX_OPEN_SYNCS = 8

function newer (aInc: number, aSeq: number, bInc: number, bSeq: number): boolean {
  return aInc > bInc || (aInc === bInc && aSeq > bSeq)
}

function version (hb: Heartbeat): Version {
  return { peer: hb.body.peer, inc: hb.body.inc, seq: hb.body.seq }
}

function copyInfo (info: MemberInfo): MemberInfo {
  return { roles: [...info.roles], capacity: { ...info.capacity }, load: { ...info.load }, addrs: [...info.addrs] }
}

// One node's membership state machine. Feed it inputs with `step`; carry out
// the effects it returns in order.
export class Membership {
  private readonly self: string
  private readonly selfH: number
  private readonly inc: number
  private readonly seeds: string[]
  private readonly cfg: Config
  private readonly rng: Prng
  private info: MemberInfo
  // Members other than self live in dense slots (struct of arrays: a view of
  // 10,000 members is a few flat arrays, not 10,000 objects); removal moves
  // the last slot into the hole.
  private readonly index: PeerIndex
  // peer id → slot + 1 (0: not a member)
  private slotById = new Int32Array(64)
  // slot → peer id; `count` slots are in use. Peer ids and their digest
  // hashes live in the (possibly shared) index, not once per view.
  private ids = new Int32Array(16)
  private count = 0
  private readonly hbs: Heartbeat[] = []
  private seen = new Float64Array(16)
  // versions copied out of the heartbeats: comparisons touch no objects
  private incs = new Float64Array(16)
  private seqs = new Float64Array(16)
  private readonly sus = new Map<string, Sus>()
  private readonly tombs = new Map<string, Tomb>()
  private readonly relays = new Map<number, Relay>()
  // anti-entropy exchanges we started: nonce → partner
  private readonly syncs = new Map<number, string>()
  // peers whose records we asked for within a round trip (insertion = time order)
  private readonly requested = new Map<string, number>()
  // joins, updates and removals so far (to notice that an exchange taught us something)
  private changes = 0
  private readonly base = new Uint32Array(MAX_BUCKETS)
  private readonly queue: BroadcastQueue
  // message → the heartbeats in it handed to the driver for verification
  private readonly vouched = new WeakMap<MembershipMessage, Heartbeat[]>()
  // peer ids in probe order; the first `probeLen` are this cycle's
  private probeOrder = new Int32Array(16)
  private probeLen = 0
  private probePos = 0
  private probe: Probe | undefined
  private nonce: number
  private selfHb: Heartbeat | undefined
  private selfSeen = 0
  private selfRec = 0
  private seq = 0
  private status: MemberStatus = 'alive'
  private signing = false
  private signAt = 0
  private wantSign = false
  private refuteTo: string[] = []
  private started = false
  private stopped = false
  private now = -Infinity
  private nextProbeAt = Infinity
  private nextGossipAt = 0
  private nextSyncAt = Infinity
  private nextExpiryAt = Infinity
  private updateDueAt = Infinity
  private lastSignedAt = -Infinity
  private lastToldAt = -Infinity
  private requestedAt = Infinity
  private out: MembershipEffect[] = []

  constructor (init: MembershipInit) {
    if (typeof init.self !== 'string' || init.self.length === 0) throw new TypeError('MembershipInit.self must be a non-empty peer id')
    if (!Number.isSafeInteger(init.incarnation) || init.incarnation < 0) throw new TypeError('MembershipInit.incarnation must be a non-negative safe integer that grows across restarts')
    this.self = init.self
    this.selfH = hashPeer(init.self)
    this.inc = init.incarnation
    this.info = copyInfo(init.info)
    this.seeds = (init.seeds ?? []).filter(s => s !== init.self)
    this.rng = new Prng(init.seed)
    this.index = init.index ?? new PeerIndex()
    this.nonce = this.rng.next()
    const intervalMs = init.intervalMs ?? INTERVAL_MS
    this.cfg = {
      intervalMs,
      ttlMs: init.ttlMs ?? TTL_MS,
      fanout: init.fanout ?? FANOUT,
      gossipMs: init.gossipMs ?? GOSSIP_MS,
      probeTimeoutMs: init.probeTimeoutMs ?? Math.max(1, Math.round(intervalMs * PROBE_TIMEOUT_FRACTION)),
      indirectProbes: init.indirectProbes ?? INDIRECT_PROBES,
      syncMs: init.syncMs ?? SYNC_MS,
      tombstoneMs: init.tombstoneMs ?? TOMBSTONE_MS,
      minUpdateMs: init.minUpdateMs ?? MIN_UPDATE_MS,
      maxPiggyback: init.maxPiggyback ?? MAX_PIGGYBACK,
      retransmitMult: init.retransmitMult ?? RETRANSMIT_MULT,
      maxQueue: init.maxQueue ?? MAX_QUEUE,
      maxJoinQueue: init.maxJoinQueue ?? MAX_JOIN_QUEUE
    }
    this.queue = new BroadcastQueue(this.cfg.fanout)
  }

  // Advances the state machine by one input and returns what to do. Inputs
  // before `start` (other than `update`) and after a completed leave are ignored.
  step (input: MembershipInput): MembershipEffect[] {
    if (this.stopped) return []
    const now = Math.max(this.now, input.now)
    this.now = now
    this.out = []
    if (now >= this.requestedAt) this.requestedAt = Infinity
    switch (input.type) {
      case 'start':
        if (this.started) break
        this.started = true
        this.nextProbeAt = now + 1 + this.rng.int(this.cfg.intervalMs)
        this.nextSyncAt = now + this.syncDelay()
        this.nextGossipAt = now
        this.requestSign()
        break
      case 'tick':
        break
      case 'message':
        if (this.started) this.onMessage(input.from, input.message)
        break
      case 'signed':
        if (this.started) this.onSigned(input.heartbeat)
        break
      case 'update':
        this.info = copyInfo({ ...this.info, ...input.info })
        if (this.started && this.status === 'alive') {
          const due = this.lastSignedAt + this.cfg.minUpdateMs
          if (now >= due) this.requestSign()
          else this.updateDueAt = Math.min(this.updateDueAt, due)
        }
        break
      case 'leave':
        if (!this.started || this.status === 'left') break
        this.status = 'left'
        this.requestSign()
        break
    }
    if (this.started && !this.stopped) {
      if (this.selfHb !== undefined) this.runDue(now)
      this.armTimer(now)
    }
    return this.out
  }

  // Live members including self (once its first heartbeat is signed).
  view (): Member[] {
    const out: Member[] = []
    if (this.selfHb !== undefined && this.status === 'alive') out.push({ peer: this.self, heartbeat: this.selfHb, lastSeen: this.selfSeen, suspect: false })
    for (let i = 0; i < this.count; i++) {
      const peer = this.peerAt(i)
      out.push({ peer, heartbeat: this.hbs[i], lastSeen: this.seen[i], suspect: this.sus.has(peer) })
    }
    return out
  }

  // Whether `peer` is in the live view (self included).
  has (peer: string): boolean {
    return peer === this.self ? this.selfHb !== undefined && this.status === 'alive' : this.slotHas(peer)
  }

  // Number of live members including self.
  get size (): number {
    return this.count + (this.selfHb !== undefined && this.status === 'alive' ? 1 : 0)
  }

  // Records waiting for dissemination (a load indicator for tests and metrics).
  get pending (): number {
    return this.queue.size
  }

  // The heartbeats in `message` that would change this node's view. The
  // driver verifies their signatures and, if all pass, passes this same
  // message object to `step`; if any fails it drops the message. `step`
  // applies only heartbeats returned here for this message object: a
  // heartbeat for X relayed by Y is never trusted unverified.
  heartbeatsToVerify (message: MembershipMessage): Heartbeat[] {
    const out: Heartbeat[] = []
    for (const hb of message.heartbeats) if (this.wouldAccept(hb.body)) out.push(hb)
    // nothing recorded means nothing to apply: most messages repeat what we hold
    if (out.length > 0) this.vouched.set(message, out)
    else this.vouched.delete(message)
    return out
  }

  // Checks a decoded frame; throws MalformedMessageError on anything but a
  // well-formed message within the size limits.
  validateMessage (x: unknown): MembershipMessage {
    return validateMessage(x)
  }

  private wouldAccept (b: HeartbeatBody): boolean {
    if (b.peer === this.self) return b.inc === this.inc && this.selfHb !== undefined && b.seq > this.selfHb.body.seq
    // a peer is a member or a tombstone, never both
    const i = this.slotGet(b.peer)
    if (i !== undefined) return newer(b.inc, b.seq, this.incs[i], this.seqs[i])
    const t = this.tombs.get(b.peer)
    return t === undefined || newer(b.inc, b.seq, t.inc, t.seq)
  }

  // ---- signing -----------------------------------------------------------

  private requestSign (): void {
    if (this.signing) { this.wantSign = true; return }
    this.signing = true
    this.wantSign = false
    this.signAt = this.now
    this.updateDueAt = Infinity
    this.seq = Math.max(this.seq, this.selfHb?.body.seq ?? 0) + 1
    const body: HeartbeatBody = { peer: this.self, inc: this.inc, seq: this.seq, status: this.status, ...copyInfo(this.info) }
    this.out.push({ type: 'sign', body })
  }

  private onSigned (hb: Heartbeat): void {
    const b = hb.body
    if (b.peer !== this.self || b.inc !== this.inc) return
    if (this.selfHb !== undefined && b.seq <= this.selfHb.body.seq) return
    const first = this.selfHb === undefined
    this.signing = false
    this.base[this.selfH & MASK] ^= this.selfRec
    this.selfHb = hb
    this.selfSeen = this.now
    this.selfRec = hashRecord(this.selfH, b.inc, b.seq)
    this.base[this.selfH & MASK] ^= this.selfRec
    this.lastSignedAt = this.now
    if (b.status === 'left') {
      const n = Math.min(this.count, Math.max(8, 3 * this.cfg.fanout))
      for (const to of this.pickMembers(n, undefined)) this.send(to, { type: 'gossip', heartbeats: [hb], suspects: [] })
      this.stopped = true
      return
    }
    this.queue.push(this.self, hb, undefined, URGENT, this.cfg.maxQueue)
    for (const to of this.refuteTo) this.send(to, { type: 'gossip', heartbeats: [hb], suspects: [] })
    this.refuteTo = []
    if (first) this.joinSync()
    if (this.wantSign || this.status !== b.status) this.requestSign()
  }

  // ---- messages ----------------------------------------------------------

  private onMessage (from: string, m: MembershipMessage): void {
    const changes = this.changes
    const bulk = m.type === 'sync-summary' || m.type === 'sync-push'
    const verified = this.vouched.get(m)
    if (verified !== undefined) {
      this.vouched.delete(m)
      for (const hb of verified) this.applyHeartbeat(hb, bulk)
    }
    for (const s of m.suspects) this.applySuspicion(s, from, bulk)
    const tell = this.accusation(from)
    switch (m.type) {
      case 'ping': {
        const r = this.records(false)
        if (tell !== undefined) r.suspects.push(tell)
        this.send(from, { type: 'ack', nonce: m.nonce, ...r })
        return
      }
      case 'ack': {
        const p = this.probe
        if (p !== undefined && m.nonce === p.nonce) p.acked = true
        const relay = this.relays.get(m.nonce)
        if (relay !== undefined) {
          this.relays.delete(m.nonce)
          this.send(relay.requester, { type: 'ack', nonce: relay.nonce, ...this.records(false) })
        }
        break
      }
      case 'ping-req': {
        const n = this.nextNonce()
        this.relays.set(n, { requester: from, nonce: m.nonce, until: this.now + this.cfg.intervalMs })
        this.send(m.target, { type: 'ping', nonce: n, ...this.records(false) })
        break
      }
      case 'sync':
        this.onSync(from, m.nonce, m.digest)
        break
      case 'sync-summary': {
        const open = this.syncs.get(m.nonce) === from
        const { diff, missed } = this.onSummary(from, m)
        // far apart (cold start, healed partition), or the rumour missed us:
        // exchange again next period until worked off (and in case the records
        // we asked for are lost); otherwise the next exchange can wait
        if (missed > 0 || this.bulk(diff + this.changes - changes)) this.nextSyncAt = Math.min(this.nextSyncAt, this.now + this.cfg.intervalMs)
        else if (open) this.nextSyncAt = Math.max(this.nextSyncAt, this.now + this.syncDelay())
        break
      }
      case 'sync-push':
        this.onPush(from, m)
        if (this.bulk(this.changes - changes)) this.nextSyncAt = Math.min(this.nextSyncAt, this.now + this.cfg.intervalMs)
        break
      case 'gossip':
        break
    }
    if (tell !== undefined) this.send(from, { type: 'gossip', heartbeats: [], suspects: [tell] })
  }

  // A heartbeat the driver verified (or that was vouched for as ours).
  // `bulk`: learned by anti-entropy, which spreads it on its own; only urgent
  // records are also rumoured.
  private applyHeartbeat (hb: Heartbeat, bulk: boolean): void {
    const b = hb.body
    const p = b.peer
    if (p === this.self) {
      // someone holds a newer heartbeat of ours (an earlier life with the same
      // incarnation, or a replay): re-assert with a higher seq
      if (b.inc === this.inc) { this.seq = Math.max(this.seq, b.seq); this.requestSign() }
      return
    }
    const i = this.slotGet(p)
    if (i !== undefined) {
      if (!newer(b.inc, b.seq, this.incs[i], this.seqs[i])) return
      if (b.status === 'left') { this.remove(p, i, 'left', hb); return }
      const h = this.index.hash(this.ids[i])
      this.base[h & MASK] ^= hashRecord(h, this.incs[i], this.seqs[i]) ^ hashRecord(h, b.inc, b.seq)
      this.hbs[i] = hb
      this.incs[i] = b.inc
      this.seqs[i] = b.seq
      this.seen[i] = this.now
      const s = this.sus.get(p)
      if (s !== undefined && newer(b.inc, b.seq, s.inc, s.seq)) {
        this.sus.delete(p)
        this.queue.forget(SUSPECT_KEY + p)
      }
      if (s?.spread === true) this.queue.push(p, hb, undefined, URGENT, this.cfg.maxQueue)
      else if (!bulk) this.queue.push(p, hb, undefined, UPDATE, this.cfg.maxQueue)
      this.changes++
      this.out.push({ type: 'update', peer: p, heartbeat: hb })
      return
    }
    const t = this.tombs.get(p)
    if (t !== undefined && !newer(b.inc, b.seq, t.inc, t.seq)) return
    const h = t?.h ?? hashPeer(p)
    if (t !== undefined) this.tombs.delete(p)
    if (b.status === 'left') {
      this.tombs.set(p, { inc: b.inc, seq: b.seq, at: this.now, hb, h, toldAt: -Infinity })
      this.queue.push(p, hb, undefined, URGENT, this.cfg.maxQueue)
      return
    }
    const id = this.addMember(p, hb)
    // SWIM: a new member goes to a random place among those not yet probed
    if (this.probeLen === this.probeOrder.length) {
      const grown = new Int32Array(2 * this.probeLen)
      grown.set(this.probeOrder)
      this.probeOrder = grown
    }
    const order = this.probeOrder
    const j = this.probePos + this.rng.int(this.probeLen - this.probePos + 1)
    order[this.probeLen++] = order[j]
    order[j] = id
    if (!bulk) this.queue.push(p, hb, undefined, JOIN, this.cfg.maxJoinQueue)
    this.changes++
    this.out.push({ type: 'join', peer: p, heartbeat: hb })
  }

  // A claim that `s.peer` is dead. Claims that arrive by anti-entropy
  // (`viaSync`) are removals seen elsewhere — after a partition, hundreds at
  // once — so they only start a local timer and a direct notice to the
  // accused instead of a gossip wave; the accused refutes if it lives.
  private applySuspicion (s: Suspicion, from: string, viaSync: boolean): void {
    if (s.peer === this.self) {
      if (s.inc !== this.inc || this.status !== 'alive') return
      const current = this.selfHb?.body.seq ?? 0
      if (s.seq < current) {
        // already refuted, but the accuser has not heard: tell it directly
        if (this.selfHb !== undefined && from !== this.self && this.now - this.lastToldAt >= this.cfg.gossipMs) {
          this.lastToldAt = this.now
          this.send(from, { type: 'gossip', heartbeats: [this.selfHb], suspects: [] })
        }
        return
      }
      if (from !== this.self && this.refuteTo.length < MAX_REFUTE_TO && !this.refuteTo.includes(from)) this.refuteTo.push(from)
      // a signature already on its way (seq > s.seq) refutes this too
      if (this.signing && this.seq > s.seq) return
      this.requestSign()
      return
    }
    const i = this.slotGet(s.peer)
    if (i === undefined) return
    if (newer(this.incs[i], this.seqs[i], s.inc, s.seq)) return
    if (!viaSync) { this.suspect(s.peer, s.inc, s.seq, true); return }
    if (this.sus.has(s.peer)) return
    this.suspect(s.peer, s.inc, s.seq, false)
    this.sus.get(s.peer)!.told = this.now
    this.send(s.peer, { type: 'gossip', heartbeats: [], suspects: [{ peer: s.peer, inc: s.inc, seq: s.seq }] })
  }

  private suspect (peer: string, inc: number, seq: number, spread: boolean): void {
    const s = this.sus.get(peer)
    if (s !== undefined) {
      if (newer(inc, seq, s.inc, s.seq)) { s.inc = inc; s.seq = seq }
      if (!spread || s.spread) return
      s.spread = true
    } else {
      this.sus.set(peer, { at: this.now, inc, seq, told: -Infinity, spread })
      this.nextExpiryAt = Math.min(this.nextExpiryAt, this.now + this.cfg.ttlMs)
    }
    if (spread) this.queue.push(SUSPECT_KEY + peer, undefined, { peer, inc, seq }, URGENT, this.cfg.maxQueue)
  }

  // If `peer` is suspected or removed here, the claim to send it so that it
  // can refute (at most once per period per peer).
  private accusation (peer: string): Suspicion | undefined {
    if (this.slotHas(peer)) {
      const s = this.sus.get(peer)
      if (s === undefined || this.now - s.told < this.cfg.intervalMs) return undefined
      s.told = this.now
      return { peer, inc: s.inc, seq: s.seq }
    }
    const t = this.tombs.get(peer)
    if (t === undefined || t.hb !== undefined || this.now - t.toldAt < this.cfg.intervalMs) return undefined
    t.toldAt = this.now
    return { peer, inc: t.inc, seq: t.seq }
  }

  private slotGet (peer: string): number | undefined {
    const id = this.index.get(peer)
    if (id === undefined || id >= this.slotById.length) return undefined
    const s = this.slotById[id]
    return s === 0 ? undefined : s - 1
  }

  private slotHas (peer: string): boolean {
    return this.slotGet(peer) !== undefined
  }

  // slot -1 removes
  private slotSet (peer: string, slot: number): number {
    const id = this.index.id(peer)
    if (id >= this.slotById.length) {
      const grown = new Int32Array(Math.max(2 * this.slotById.length, id + 1))
      grown.set(this.slotById)
      this.slotById = grown
    }
    this.slotById[id] = slot + 1
    return id
  }

  private peerAt (i: number): string {
    return this.index.name(this.ids[i])
  }

  // Adds `peer` in a new slot; returns its id in the index.
  private addMember (peer: string, hb: Heartbeat): number {
    const i = this.count
    if (i === this.seen.length) {
      const ids = new Int32Array(2 * i)
      ids.set(this.ids)
      this.ids = ids
      const seen = new Float64Array(2 * i)
      seen.set(this.seen)
      this.seen = seen
      const incs = new Float64Array(2 * i)
      incs.set(this.incs)
      this.incs = incs
      const seqs = new Float64Array(2 * i)
      seqs.set(this.seqs)
      this.seqs = seqs
    }
    this.count++
    this.hbs.push(hb)
    const id = this.slotSet(peer, i)
    this.ids[i] = id
    this.seen[i] = this.now
    this.incs[i] = hb.body.inc
    this.seqs[i] = hb.body.seq
    const h = this.index.hash(id)
    this.base[h & MASK] ^= hashRecord(h, hb.body.inc, hb.body.seq)
    return id
  }

  private remove (peer: string, i: number, reason: 'timeout' | 'left', leftHb: Heartbeat | undefined): void {
    const h = this.index.hash(this.ids[i])
    const held = { inc: this.incs[i], seq: this.seqs[i] }
    this.base[h & MASK] ^= hashRecord(h, held.inc, held.seq)
    const last = this.count - 1
    if (i !== last) {
      this.ids[i] = this.ids[last]
      this.hbs[i] = this.hbs[last]
      this.seen[i] = this.seen[last]
      this.incs[i] = this.incs[last]
      this.seqs[i] = this.seqs[last]
      this.slotById[this.ids[i]] = i + 1
    }
    this.count--
    this.hbs.pop()
    this.slotSet(peer, -1)
    const s = this.sus.get(peer)
    this.sus.delete(peer)
    this.queue.forget(peer)
    this.queue.forget(SUSPECT_KEY + peer)
    let inc = held.inc
    let seq = held.seq
    if (leftHb !== undefined) {
      inc = leftHb.body.inc
      seq = leftHb.body.seq
      this.queue.push(peer, leftHb, undefined, URGENT, this.cfg.maxQueue)
    } else if (s !== undefined && newer(s.inc, s.seq, inc, seq)) {
      inc = s.inc
      seq = s.seq
    }
    this.tombs.delete(peer)
    this.tombs.set(peer, { inc, seq, at: this.now, hb: leftHb, h, toldAt: -Infinity })
    this.changes++
    this.out.push({ type: 'leave', peer, reason })
  }

  // ---- periodic work -----------------------------------------------------

  private runDue (now: number): void {
    const c = this.cfg
    if (this.signing && now - this.signAt >= 2 * c.intervalMs) {
      // the driver never answered: ask again
      this.signing = false
      this.requestSign()
    }
    if (now >= this.updateDueAt) this.requestSign()
    if (now >= this.nextExpiryAt) this.expireSuspects(now)
    const p = this.probe
    if (p !== undefined && !p.acked && !p.indirect && now >= p.timeoutAt) this.indirectProbe(p)
    if (now >= this.nextProbeAt) {
      this.probeRound(now)
      this.nextProbeAt += c.intervalMs
      if (this.nextProbeAt <= now) this.nextProbeAt = now + c.intervalMs
    }
    if (now >= this.nextSyncAt) {
      this.nextSyncAt = now + this.syncDelay()
      this.syncRound()
    }
    if (this.queue.fresh > 0 && now >= this.nextGossipAt) {
      this.gossipRound()
      this.nextGossipAt = now + c.gossipMs
    }
  }

  private armTimer (now: number): void {
    let next = Infinity
    if (this.signing) next = this.signAt + 2 * this.cfg.intervalMs
    if (this.selfHb !== undefined) {
      next = Math.min(next, this.nextProbeAt, this.nextSyncAt, this.nextExpiryAt, this.updateDueAt)
      const p = this.probe
      if (p !== undefined && !p.acked && !p.indirect) next = Math.min(next, p.timeoutAt)
      if (this.queue.fresh > 0) next = Math.min(next, this.nextGossipAt)
    }
    if (next === Infinity) return
    next = Math.max(next, now + 1)
    if (next < this.requestedAt) {
      this.requestedAt = next
      this.out.push({ type: 'timer', at: next })
    }
  }

  private expireSuspects (now: number): void {
    let next = Infinity
    for (const [peer, s] of this.sus) {
      const at = s.at + this.cfg.ttlMs
      if (at <= now) this.remove(peer, this.slotGet(peer)!, 'timeout', undefined)
      else if (at < next) next = at
    }
    this.nextExpiryAt = next
  }

  private probeRound (now: number): void {
    const p = this.probe
    this.probe = undefined
    if (p !== undefined && !p.acked) {
      const i = this.slotGet(p.target)
      if (i !== undefined && this.incs[i] === p.inc && this.seqs[i] === p.seq) {
        this.suspect(p.target, p.inc, p.seq, true)
        // tell the accused at once: if it is alive it refutes
        this.send(p.target, { type: 'gossip', heartbeats: [], suspects: [{ peer: p.target, inc: p.inc, seq: p.seq }] })
      }
    }
    // tombstones and relays are kept in insertion (= time) order
    for (const [peer, t] of this.tombs) {
      if (now - t.at < this.cfg.tombstoneMs) break
      this.tombs.delete(peer)
    }
    for (const [n, r] of this.relays) {
      if (r.until > now) break
      this.relays.delete(n)
    }
    for (const [peer, at] of this.requested) {
      if (now - at < this.cfg.probeTimeoutMs) break
      this.requested.delete(peer)
    }
    if (this.count === 0) {
      this.joinSync()
      return
    }
    const target = this.nextTarget()
    if (target === undefined) return
    const t = this.slotGet(target)!
    const nonce = this.nextNonce()
    this.probe = { target, nonce, inc: this.incs[t], seq: this.seqs[t], acked: false, indirect: false, timeoutAt: now + this.cfg.probeTimeoutMs }
    const r = this.records(true)
    const tell = this.accusation(target)
    if (tell !== undefined) r.suspects.push(tell)
    this.send(target, { type: 'ping', nonce, ...r })
  }

  private indirectProbe (p: Probe): void {
    p.indirect = true
    if (!this.slotHas(p.target)) return
    // a second direct try covers random loss; helpers cover a bad path
    this.send(p.target, { type: 'ping', nonce: p.nonce, ...this.records(true) })
    for (const helper of this.pickMembers(this.cfg.indirectProbes, p.target)) {
      this.send(helper, { type: 'ping-req', nonce: p.nonce, target: p.target, ...this.records(false) })
    }
  }

  private nextTarget (): string | undefined {
    for (let tries = 0; tries <= this.count; tries++) {
      if (this.probePos >= this.probeLen) {
        if (this.probeOrder.length < this.count) this.probeOrder = new Int32Array(this.ids.length)
        this.probeOrder.set(this.ids.subarray(0, this.count))
        this.probeLen = this.count
        this.shuffle(this.probeOrder, this.probeLen)
        this.probePos = 0
        if (this.probeLen === 0) return undefined
      }
      const id = this.probeOrder[this.probePos++]
      if (id < this.slotById.length && this.slotById[id] !== 0) return this.index.name(id)
    }
    return undefined
  }

  private gossipRound (): void {
    for (const to of this.pickMembers(this.cfg.fanout, undefined)) {
      const r = this.records(false, true)
      if (r.heartbeats.length === 0 && r.suspects.length === 0) break
      this.send(to, { type: 'gossip', ...r })
    }
  }

  private syncRound (): void {
    let target: string | undefined
    if (this.count === 0 || this.rng.float() < SYNC_OUTSIDE_SHARE) target = this.outsider()
    if (target === undefined && this.count > 0) target = this.peerAt(this.rng.int(this.count))
    if (target !== undefined) this.sendSync(target)
  }

  // A seed or a removed (not departed) peer: the way across a healed partition.
  private outsider (): string | undefined {
    const n = this.seeds.length + this.tombs.size
    if (n === 0) return undefined
    let i = this.rng.int(n)
    if (i < this.seeds.length) return this.seeds[i]
    i -= this.seeds.length
    for (const [peer, t] of this.tombs) {
      if (i-- === 0) return t.hb === undefined ? peer : undefined
    }
    return undefined
  }

  private syncDelay (): number {
    return Math.round(this.cfg.syncMs * (0.5 + this.rng.float()))
  }

  // ---- anti-entropy ------------------------------------------------------
  //
  //  A → B  sync {digest}: one XOR hash per bucket of A's live view
  //  B → A  sync-summary pages {cover, have, suspects}: for every bucket whose
  //         hash differs, the versions B holds and B's claims (members it
  //         suspects or removed), complete for each covered bucket
  //  A → B  sync-push {need, heartbeats, suspects}: what B lacks or holds
  //         older, and the peers A wants; B answers `need` with a sync-push
  //
  // Only versions travel until a record is known to be missing, so a bulk
  // exchange costs one small tuple per member plus exactly the missing records.

  // Joining (or alone): one exchange with a random seed; another one next
  // period if that brought nobody.
  private joinSync (): void {
    if (this.seeds.length > 0) this.sendSync(this.seeds[this.rng.int(this.seeds.length)])
  }

  private sendSync (to: string): void {
    const hbs = this.selfHb === undefined ? [] : [this.selfHb]
    const nonce = this.nextNonce()
    this.syncs.set(nonce, to)
    // only the latest few exchanges can still be answered
    if (this.syncs.size > MAX_OPEN_SYNCS) this.syncs.delete(this.syncs.keys().next().value!)
    this.send(to, { type: 'sync', nonce, digest: this.fold(this.bucketCount()), heartbeats: hbs, suspects: [] })
    // unanswered (lost, or a dead partner): try again next period
    this.nextSyncAt = Math.min(this.nextSyncAt, this.now + this.cfg.intervalMs)
  }

  private onSync (from: string, nonce: number, digest: number[]): void {
    const theirs = digest.length
    const mine = this.fold(theirs)
    const differs = new Uint8Array(theirs)
    let n = 0
    for (let i = 0; i < theirs; i++) if (mine[i] !== digest[i]) { differs[i] = 1; n++ }
    // a newcomer (a one-bucket digest: fewer than DIGEST_LOAD members) lacks
    // nearly everything: send it every record at once, then an empty summary
    // to close the exchange. This is its bootstrap.
    if (n > 0 && theirs === 1) {
      const all: Records = { heartbeats: [], suspects: [] }
      this.offer(this.self, all)
      for (let i = 0; i < this.count; i++) this.offer(this.peerAt(i), all)
      for (const peer of this.tombs.keys()) this.offer(peer, all)
      this.pushPages(from, nonce, [], all)
      this.send(from, { type: 'sync-summary', nonce, buckets: 1, cover: [], have: [], settled: 0, heartbeats: [], suspects: [] })
      return
    }
    // far apart: this side should look again soon too
    if (n > 0 && 4 * n >= theirs) this.nextSyncAt = Math.min(this.nextSyncAt, this.now + this.cfg.intervalMs)
    // answer at the finer of the two granularities, so that pages end at buckets
    const buckets = n === 0 ? theirs : Math.max(theirs, this.bucketCount())
    const mask = buckets - 1
    // versions held longer than settleMs are "old news": the initiator lacking
    // one was missed by the rumour; younger ones are probably still on their way
    const settle = this.settleMs()
    const old = new Map<number, Version[]>()
    const young = new Map<number, Version[]>()
    const claims = new Map<number, Suspicion[]>()
    const add = <T>(m: Map<number, T[]>, j: number, x: T): void => {
      const list = m.get(j)
      if (list === undefined) m.set(j, [x])
      else list.push(x)
    }
    if (n > 0) {
      if (this.selfHb !== undefined && differs[this.selfH & (theirs - 1)] === 1) add(this.now - this.selfSeen >= settle ? old : young, this.selfH & mask, version(this.selfHb))
      for (let i = 0; i < this.count; i++) {
        const h = this.index.hash(this.ids[i])
        if (differs[h & (theirs - 1)] === 0) continue
        const peer = this.peerAt(i)
        const s = this.sus.size > 0 ? this.sus.get(peer) : undefined
        if (s !== undefined) add(claims, h & mask, { peer, inc: s.inc, seq: s.seq })
        else add(this.now - this.seen[i] >= settle ? old : young, h & mask, { peer, inc: this.incs[i], seq: this.seqs[i] })
      }
      for (const [peer, t] of this.tombs) {
        if (differs[t.h & (theirs - 1)] === 0) continue
        if (t.hb !== undefined) add(this.now - t.at >= settle ? old : young, t.h & mask, version(t.hb))
        else add(claims, t.h & mask, { peer, inc: t.inc, seq: t.seq })
      }
    }
    let cover: number[] = []
    let vo: Version[] = []
    let vy: Version[] = []
    let cs: Suspicion[] = []
    const flush = (): void => {
      this.send(from, { type: 'sync-summary', nonce, buckets, cover, have: vo.concat(vy), settled: vo.length, heartbeats: [], suspects: cs })
      cover = []
      vo = []
      vy = []
      cs = []
    }
    // at most SUMMARY_VERSIONS per exchange, from a random bucket on: a big
    // divergence (cold start, healed partition) is worked off over several
    // exchanges of bounded cost instead of one of O(n)
    const first = n === 0 ? 0 : this.rng.int(buckets)
    let budget = SUMMARY_VERSIONS
    for (let k = 0; k < buckets && n > 0 && budget > 0; k++) {
      const j = (first + k) & mask
      if (differs[j & (theirs - 1)] === 0) continue
      const ho = old.get(j) ?? []
      const hy = young.get(j) ?? []
      const c = claims.get(j) ?? []
      if (cover.length > 0 && (vo.length + vy.length + ho.length + hy.length > PAGE_VERSIONS || cs.length + c.length > PAGE_RECORDS)) flush()
      cover.push(j)
      for (const v of ho) vo.push(v)
      for (const v of hy) vy.push(v)
      for (const x of c) cs.push(x)
      budget -= ho.length + hy.length + c.length + 1
    }
    // an empty summary still tells the initiator the exchange happened
    flush()
  }

  // Whether `diff` differing records make a large divergence (an eighth of
  // the view): worth an exchange every period rather than every syncMs.
  private bulk (diff: number): boolean {
    return diff > Math.max(DIGEST_LOAD, (this.count + 1) / 8)
  }

  // How long a record must have been held to count as old news: twice the
  // rounds an eager push needs to reach everyone.
  private settleMs (): number {
    const rounds = Math.ceil(Math.log(this.count + 2) / Math.log(this.cfg.fanout + 1))
    return 2 * rounds * this.cfg.gossipMs
  }

  // One page of a summary from the partner of an exchange we started;
  // returns how many records differ and how many old ones we lacked.
  private onSummary (from: string, m: SyncSummaryMessage): { diff: number, missed: number } {
    if (this.syncs.get(m.nonce) !== from) return { diff: 0, missed: 0 }
    const mask = m.buckets - 1
    const covered = new Uint8Array(m.buckets)
    for (const c of m.cover) covered[c] = 1
    const mentioned = new Set<string>()
    const missedOld: string[] = []
    const missedYoung: string[] = []
    const out: Records = { heartbeats: [], suspects: [] }
    for (let k = 0; k < m.have.length; k++) {
      const v = m.have[k]
      mentioned.add(v.peer)
      const cmp = this.compareHeld(v.peer, v.inc, v.seq)
      if (cmp > 0) this.offer(v.peer, out)
      else if (cmp < 0) (k < m.settled ? missedOld : missedYoung).push(v.peer)
    }
    for (const c of m.suspects) {
      mentioned.add(c.peer)
      // they accuse a version older than ours: they lack the refutation
      if (this.compareHeld(c.peer, c.inc, c.seq) > 0 && (c.peer === this.self || this.slotHas(c.peer))) this.offer(c.peer, out)
    }
    if (this.selfHb !== undefined && covered[this.selfH & mask] === 1 && !mentioned.has(this.self)) out.heartbeats.push(this.selfHb)
    for (let i = 0; i < this.count; i++) {
      if (covered[this.index.hash(this.ids[i]) & mask] === 0) continue
      const peer = this.peerAt(i)
      if (!mentioned.has(peer)) this.offer(peer, out)
    }
    for (const [peer, t] of this.tombs) {
      if (covered[t.h & mask] === 1 && !mentioned.has(peer)) this.offer(peer, out)
    }
    const diff = missedOld.length + missedYoung.length + out.heartbeats.length + out.suspects.length
    // young records are left to the rumour unless the views are far apart
    const want = this.bulk(diff) ? missedOld.concat(missedYoung) : missedOld
    const need: string[] = []
    for (const peer of want) {
      // concurrent exchanges would otherwise fetch the same record twice
      const asked = this.requested.get(peer)
      if (asked !== undefined && this.now - asked < this.cfg.probeTimeoutMs) continue
      this.requested.delete(peer)
      this.requested.set(peer, this.now)
      need.push(peer)
    }
    this.pushPages(from, m.nonce, need, out)
    return { diff, missed: missedOld.length }
  }

  // Compares what we hold for `peer` with (inc, seq): > 0 ours is newer
  // (or we removed that version), < 0 we should fetch theirs, 0 same.
  private compareHeld (peer: string, inc: number, seq: number): number {
    if (peer === this.self) {
      const b = this.selfHb?.body
      return b !== undefined && newer(b.inc, b.seq, inc, seq) ? 1 : 0
    }
    const i = this.slotGet(peer)
    if (i !== undefined) return newer(this.incs[i], this.seqs[i], inc, seq) ? 1 : newer(inc, seq, this.incs[i], this.seqs[i]) ? -1 : 0
    const t = this.tombs.get(peer)
    if (t !== undefined) return newer(inc, seq, t.inc, t.seq) ? -1 : 1
    return -1
  }

  // Adds what we can hand on about `peer`: its heartbeat, or only our claim
  // if we suspect or removed it (a peer that never knew a dying member would
  // otherwise start a fresh ttl for it).
  private offer (peer: string, out: Records): void {
    if (peer === this.self) {
      if (this.selfHb !== undefined) out.heartbeats.push(this.selfHb)
      return
    }
    const i = this.slotGet(peer)
    if (i !== undefined) {
      const s = this.sus.size > 0 ? this.sus.get(peer) : undefined
      if (s !== undefined) out.suspects.push({ peer, inc: s.inc, seq: s.seq })
      else out.heartbeats.push(this.hbs[i])
      return
    }
    const t = this.tombs.get(peer)
    if (t === undefined) return
    if (t.hb !== undefined) out.heartbeats.push(t.hb)
    else out.suspects.push({ peer, inc: t.inc, seq: t.seq })
  }

  private onPush (from: string, m: SyncPushMessage): void {
    if (m.need.length === 0) return
    const out: Records = { heartbeats: [], suspects: [] }
    for (const peer of m.need) this.offer(peer, out)
    this.pushPages(from, m.nonce, [], out)
  }

  // Sends `need` and records as sync-push pages (nothing if both are empty).
  private pushPages (to: string, nonce: number, need: string[], r: Records): void {
    let ni = 0
    let hi = 0
    let si = 0
    while (ni < need.length || hi < r.heartbeats.length || si < r.suspects.length) {
      const ask = need.slice(ni, ni + PAGE_VERSIONS)
      ni += ask.length
      const hbs = r.heartbeats.slice(hi, hi + PAGE_RECORDS)
      hi += hbs.length
      const sus = r.suspects.slice(si, si + PAGE_RECORDS - hbs.length)
      si += sus.length
      this.send(to, { type: 'sync-push', nonce, need: ask, heartbeats: hbs, suspects: sus })
    }
  }

  private bucketCount (): number {
    let b = 1
    const target = Math.ceil((this.count + 1) / DIGEST_LOAD)
    while (b < target && b < MAX_BUCKETS) b *= 2
    return b
  }

  private fold (buckets: number): number[] {
    const out = new Array<number>(buckets).fill(0)
    const m = buckets - 1
    for (let j = 0; j < MAX_BUCKETS; j++) out[j & m] = (out[j & m] ^ this.base[j]) >>> 0
    return out
  }

  // ---- helpers -----------------------------------------------------------

  private records (withSelf: boolean, freshOnly = false): Records {
    const heartbeats: Heartbeat[] = []
    const suspects: Suspicion[] = []
    if (withSelf && this.selfHb !== undefined) heartbeats.push(this.selfHb)
    const n = this.count + 1
    const limit = this.cfg.retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1)))
    // a dedicated push (fresh records only) carries a page; piggybacks stay small
    const max = freshOnly ? GOSSIP_RECORDS : this.cfg.maxPiggyback - heartbeats.length
    this.queue.take(max, limit, freshOnly, heartbeats, suspects)
    return { heartbeats, suspects }
  }

  private pickMembers (k: number, exclude: string | undefined): string[] {
    const n = this.count
    if (n <= k) {
      const all: string[] = []
      for (let i = 0; i < n; i++) if (this.peerAt(i) !== exclude) all.push(this.peerAt(i))
      return all
    }
    const picked = new Set<string>()
    for (let tries = 0; picked.size < k && tries < 4 * k + 8; tries++) {
      const p = this.peerAt(this.rng.int(n))
      if (p !== exclude) picked.add(p)
    }
    return [...picked]
  }

  // Shuffles the first `len` entries of `arr` in place.
  private shuffle (arr: Int32Array, len: number): void {
    for (let i = len - 1; i > 0; i--) {
      const j = this.rng.int(i + 1)
      const t = arr[i]
      arr[i] = arr[j]
      arr[j] = t
    }
  }

  private nextNonce (): number {
    this.nonce = (this.nonce + 1) >>> 0
    return this.nonce
  }

  private send (to: string, message: MembershipMessage): void {
    this.out.push({ type: 'send', to, message })
  }
}
