// The repair core of WebCASStore: one per node, a pure state machine
// (DESIGN.md §4). It keeps, for every object this node holds a share of, the
// placement record it considers winning; as the object's repair leader it
// has missing shares rebuilt onto new holders and installs the new record;
// as a holder it reports its shares and adopts newer records; as a holder no
// longer listed it drops its share once the winning record's holders have all
// confirmed theirs. Time arrives as `now`, data moves through `rebuild`
// effects the driver carries out, and nothing here does I/O, reads a clock or
// draws randomness. The protocol, its bounds and its assumptions: README.md.

import { placementHash, rankHolders } from '../placement.ts'
import {
  ABSENCE_MEMORY_GRACES, ANTI_ENTROPY_JITTER, APART_MEMORY_PERIODS, ANTI_ENTROPY_MS, CONFIRM_PERIODS, FAILED_TARGET_MS, FORMER_PERIODS, GRACE_MS, LATE_RESULT_FACTOR, LEADER_SILENCE_CONFIRMS, LIMITS,
  MAX_CONCURRENT_REBUILDS, MAX_VERSION_STEP, REBUILD_BYTES_PER_SEC, REBUILD_TIMEOUT_MS
} from './constants.ts'
import { InvalidRepairInputError, RecordConflictError } from './errors.ts'
import type {
  Health, PlacementRecord, RebuildResult, RepairEffect, RepairInit, RepairMessage, RepairSnapshot, ShareSource, StatusEntry, StorageMember
} from './types.ts'
import { sharesOf, validateRecord, validateRepairMessage, validateSnapshot } from './validate.ts'

// The latest status a holder of the current record sent us. `tag` is the
// local tag of the record it was about (the current record's tag if it was
// the same record, -1 otherwise); `held` is what is on its disk, whatever
// record it reported under.
interface Report {
  tag: number
  held: number[]
  at: number
  // the record it reported (immutable)
  rec: PlacementRecord
}

// One object this node holds a share of, or is listed as a holder of.
interface Obj {
  rec: PlacementRecord
  // local identity of `rec`: a new tag per adoption
  tag: number
  // holders `rec` named that the record before it did not (all, for a new
  // object), and when this node took it: a holder named lately is not
  // counted missing before a warm-up, whenever it left this node's view
  named: Map<string, number>
  // this node's position in `rec`, or -1
  mine: number
  n: number
  need: number
  // positions whose share this node durably holds (change through setHeld)
  held: Set<number>
  // this node's status entries for the current record and held set, cached
  status: StatusEntry | undefined
  asking: StatusEntry | undefined
  reports: Map<string, Report>
  // highest version this node proposed for the root (as leader)
  proposed: number
  // targets whose rebuild failed, skipped until the time given
  failed: Map<string, number>
  // an 'unrecoverable' report was made and still stands
  unrecoverable: boolean
  // holders of records this node replaced by a newer one, not yet known to
  // have it (peer → since when)
  former: Map<string, number>
  // holders of an older record of this root heard of (not trusted): told of
  // ours every round until they answer with ours or better (peer → since)
  behind: Map<string, number>
  // a better record heard from a peer this node has no reason to trust yet:
  // adopted once each of its holders confirmed its share under it
  candidate: { rec: PlacementRecord, confirmed: Set<number>, since: number } | undefined
  // what placement ranks replacement holders by (the writer's key)
  key: string
  // (while announcing) a holder of `rec` reported a newer record this node
  // could not take yet
  newer: boolean
  // loaded from a snapshot and not yet confirmed current by another holder:
  // every holder is asked each round, and this node does not lead it (until
  // a holder answers, or a grace after its first view)
  announce: boolean
  // no target was available: do not try again before this time
  retryAt: number
}

// A rebuild this node asked its driver for.
interface Pending {
  root: string
  position: number
  target: string
  replaced: string
  // the tag of the record the proposal was built on
  baseTag: number
  proposal: PlacementRecord
  deadline: number
  // set once it timed out: then it is kept (in `late`) until this time, so
  // that a late success is still installed
  forgetAt: number
}

interface Config {
  graceMs: number
  warmupMs: number
  rebuildTimeoutMs: number
  rebuildBytesPerSec: number
  antiEntropyMs: number
  maxConcurrentRebuilds: number
  failedTargetMs: number
  confirmMs: number
  formerMs: number
  apartMemoryMs: number
}

// Compares two records of one root: > 0 when `a` wins. Higher version wins;
// equal versions are ordered by their holders, element-wise as strings.
export function compareRecords (a: PlacementRecord, b: PlacementRecord): number {
  if (a.version !== b.version) return a.version - b.version
  const n = Math.min(a.holders.length, b.holders.length)
  for (let i = 0; i < n; i++) {
    const x = a.holders[i]
    const y = b.holders[i]
    if (x !== y) return x < y ? -1 : 1
  }
  return a.holders.length - b.holders.length
}

function sameObject (a: PlacementRecord, b: PlacementRecord): boolean {
  if (a.root !== b.root || a.shareBytes !== b.shareBytes) return false
  const x = a.redundancy
  const y = b.redundancy
  if (x.kind === 'replicas') return y.kind === 'replicas' && x.r === y.r
  return y.kind === 'erasure' && x.k === y.k && x.m === y.m
}

function positiveInt (x: number | undefined, name: string, dflt: number): number {
  if (x === undefined) return dflt
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new InvalidRepairInputError(`invalid repair option: ${name} must be a positive number, got ${String(x)}`)
  return x
}

// The repair core. Each input method returns the effects to apply, in order;
// the driver applies them and keeps one timer (the latest `timer` effect).
// Driver input that is malformed throws a named error with the state
// unchanged; peer input never throws (it is refused with a `refused` effect).
export class RepairCore {
  readonly self: string
  private readonly cfg: Config
  private readonly objs = new Map<string, Obj>()
  // peer → roots whose current record lists it
  private readonly byPeer = new Map<string, Set<string>>()
  // live storage members and their weights
  private readonly members = new Map<string, number>()
  private memberList: StorageMember[] | undefined
  // peers not in the view and since when (local time): every departure, and
  // holders never seen; forgotten ABSENCE_MEMORY_GRACES after, if unlisted
  private readonly absent = new Map<string, number>()
  // peers that came back after being apart from this node — absent from its
  // view long enough that, as a leader, it would have replaced them (the
  // grace, counted as `missing` counts it) — and when (forgotten after
  // apartMemoryMs)
  private readonly apartUntil = new Map<string, number>()
  // peers that handed their shares off (left for good) and when: never a
  // rebuild target again (forgotten after formerMs)
  private readonly handedOff = new Map<string, number>()
  // set while this node hands off: its messages say it is leaving
  private leaving = false
  private viewAt: number | undefined
  // this node started from a snapshot (it was down, or away)
  private readonly restarted: boolean
  // roots this node dropped and forgot: the record that won, to answer
  // stragglers that still ask about it (bounded, expiring)
  private readonly tombs = new Map<string, { rec: PlacementRecord, at: number }>()
  // running rebuilds, by root and position
  private readonly pending = new Map<string, Pending>()
  // timed-out rebuilds, by root, position and target
  private readonly late = new Map<string, Pending>()
  // roots with missing positions this node (as leader) has yet to start rebuilding
  private readonly wanted = new Set<string>()
  private nextRound = 0
  private round = 0
  // the `now` of the input being handled
  private lastNow = 0
  private tags = 0
  // per-input scratch
  private out: RepairEffect[] = []
  private readonly outbox = new Map<string, StatusEntry[]>()
  private dirty = false
  private wake = Number.POSITIVE_INFINITY
  private timerAt = Number.NaN

  constructor (init: RepairInit) {
    if (typeof init?.self !== 'string' || init.self.length === 0 || init.self.length > LIMITS.id) throw new InvalidRepairInputError('invalid repair option: self must be this node\'s peer id')
    this.self = init.self
    const antiEntropyMs = positiveInt(init.antiEntropyMs, 'antiEntropyMs', ANTI_ENTROPY_MS)
    const graceMs = positiveInt(init.graceMs, 'graceMs', GRACE_MS)
    const warmupMs = init.warmupMs === 0 ? 0 : positiveInt(init.warmupMs, 'warmupMs', graceMs)
    if (warmupMs > graceMs) throw new InvalidRepairInputError('invalid repair option: warmupMs must not exceed graceMs')
    this.cfg = {
      graceMs,
      warmupMs,
      rebuildTimeoutMs: positiveInt(init.rebuildTimeoutMs, 'rebuildTimeoutMs', REBUILD_TIMEOUT_MS),
      rebuildBytesPerSec: positiveInt(init.rebuildBytesPerSec, 'rebuildBytesPerSec', REBUILD_BYTES_PER_SEC),
      antiEntropyMs,
      maxConcurrentRebuilds: Math.floor(positiveInt(init.maxConcurrentRebuilds, 'maxConcurrentRebuilds', MAX_CONCURRENT_REBUILDS)),
      failedTargetMs: positiveInt(init.failedTargetMs, 'failedTargetMs', FAILED_TARGET_MS),
      confirmMs: CONFIRM_PERIODS * antiEntropyMs * (1 + ANTI_ENTROPY_JITTER),
      formerMs: FORMER_PERIODS * antiEntropyMs,
      apartMemoryMs: graceMs + APART_MEMORY_PERIODS * antiEntropyMs * (1 + ANTI_ENTROPY_JITTER)
    }
    this.restarted = init.snapshot !== undefined && init.snapshot.objects?.length > 0
    if (init.snapshot !== undefined) {
      const snap = validateSnapshot(init.snapshot)
      for (const e of snap.objects) {
        const o = this.create(e.record, e.key, 0)
        o.named.clear()
        for (const p of e.held) this.setHeld(o, p, true)
        // a restarted holder re-announces: every holder hears from it at once
        o.announce = true
      }
    }
    this.dirty = false
  }

  // ---- inputs ----

  // The full set of live storage members (replaces the previous one). The
  // first call starts the core: until then it knows no liveness and acts on
  // nothing. Call it once membership has a settled view.
  view (members: readonly StorageMember[], now: number): RepairEffect[] {
    const next = this.checkMembers(members)
    return this.input(now, () => {
      for (const peer of [...this.members.keys()]) if (!next.has(peer)) this.leaveOne(peer, now)
      for (const [peer, weight] of next) this.joinOne(peer, weight, now)
      if (this.viewAt === undefined) this.start(now)
    })
  }

  // One member joined (or changed weight): the incremental form of `view`.
  join (member: StorageMember, now: number): RepairEffect[] {
    const next = this.checkMembers([member])
    return this.input(now, () => { for (const [peer, weight] of next) this.joinOne(peer, weight, now) })
  }

  // One member left the view (failure detected or graceful leave).
  leave (peer: string, now: number): RepairEffect[] {
    if (typeof peer !== 'string' || peer.length === 0) throw new InvalidRepairInputError('invalid repair input: leave needs a peer id')
    return this.input(now, () => this.leaveOne(peer, now))
  }

  // This node durably stored share `position` of `record.root` (at put time,
  // or as the target of a rebuild, before acknowledging it). `key` is what
  // the writer ranked holders by (default: the root); replacements are ranked
  // by it too, so holders stay where readers look first. Throws
  // MalformedRecordError, RecordConflictError or InvalidRepairInputError.
  hold (record: PlacementRecord, position: number, now: number, key: string = record?.root): RepairEffect[] {
    validateRecord(record)
    const { n } = sharesOf(record.redundancy)
    if (!Number.isSafeInteger(position) || position < 0 || position >= n) throw new InvalidRepairInputError(`invalid repair input: position must be an integer in [0, ${n}), got ${String(position)}`)
    if (typeof key !== 'string' || key.length === 0 || key.length > LIMITS.id) throw new InvalidRepairInputError('invalid repair input: the placement key must be a non-empty string')
    const known = this.objs.get(record.root)
    if (known !== undefined && !sameObject(known.rec, record)) throw new RecordConflictError()
    return this.input(now, () => {
      let o = known
      if (o === undefined) {
        o = this.create(record, key, now)
        this.setHeld(o, position, true)
        // held and dropped before: what won then may be newer than this
        // record — unless the holders of this one were with this node and
        // still count on it (their lineage is not this node's to undo)
        const tomb = this.tombs.get(record.root)
        this.tombs.delete(record.root)
        if (tomb !== undefined && sameObject(tomb.rec, record) && compareRecords(tomb.rec, record) > 0 && this.justified(o, tomb.rec)) this.adopt(o, tomb.rec, now)
      } else if (compareRecords(record, o.rec) > 0 && this.justified(o, record)) this.adopt(o, record, now)
      // (an unjustified record's share is kept as an extra share: dropped,
      // like any, only once every holder of the winning record confirms)
      this.setHeld(o, position, true)
      this.evaluate(o, now)
    })
  }

  // This node's share of `root` failed its hash or vanished (the driver has
  // deleted it): `position`, or every position it held. The holders are told
  // at once, so the leader restores it. Unknown roots are ignored.
  lost (root: string, now: number, position?: number): RepairEffect[] {
    if (typeof root !== 'string') throw new InvalidRepairInputError('invalid repair input: lost needs a root')
    if (position !== undefined && !Number.isSafeInteger(position)) throw new InvalidRepairInputError('invalid repair input: position must be an integer')
    return this.input(now, () => {
      const o = this.objs.get(root)
      if (o === undefined) return
      for (const p of [...o.held]) if (position === undefined || p === position) this.setHeld(o, p, false)
      const entry = this.entry(o, false)
      for (const h of o.rec.holders) if (h !== this.self) this.queue(h, entry)
      this.evaluate(o, now)
    })
  }

  // A message from `from` (authenticated by the transport). Validated first:
  // a malformed one is refused whole. Unknown roots are ignored, except that a
  // record listing this node is answered "not held" so its leader repairs it.
  message (from: string, msg: RepairMessage, now: number): RepairEffect[] {
    return this.input(now, () => {
      if (typeof from !== 'string' || from.length === 0 || from === this.self) { this.out.push({ type: 'refused', from: String(from), reason: 'bad sender' }); return }
      try {
        validateRepairMessage(msg)
      } catch (err) {
        this.out.push({ type: 'refused', from, reason: (err as Error).message })
        return
      }
      if (msg.leaving === true) this.handedOff.set(from, now)
      for (const e of msg.entries) this.onEntry(from, e, now)
    })
  }

  // This node leaves the fabric for good and has stopped taking shares (the
  // driver deletes them next): every co-holder is told it holds none, in
  // messages that say it is leaving, so their leaders rebuild its positions
  // elsewhere at once rather than after the grace (or on it).
  handOff (now: number): RepairEffect[] {
    return this.input(now, () => {
      this.leaving = true
      for (const o of this.objs.values()) {
        for (const p of [...o.held]) this.setHeld(o, p, false)
        const entry = this.entry(o, false)
        for (const h of o.rec.holders) if (h !== this.self) this.queue(h, entry)
      }
    })
  }

  // The outcome of a `rebuild` effect. Unknown or stale results are ignored.
  rebuilt (r: RebuildResult, now: number): RepairEffect[] {
    if (typeof r?.root !== 'string' || typeof r.target !== 'string' || typeof r.ok !== 'boolean' || !Number.isSafeInteger(r.position)) {
      throw new InvalidRepairInputError('invalid repair input: rebuilt needs { root, position, target, ok }')
    }
    return this.input(now, () => {
      const key = `${r.root}\u0000${r.position}`
      let p = this.pending.get(key)
      let expired = false
      if (p !== undefined && p.target === r.target) this.pending.delete(key)
      else {
        p = this.late.get(`${key}\u0000${r.target}`)
        if (p === undefined) return
        this.late.delete(`${key}\u0000${r.target}`)
        expired = true
      }
      const o = this.objs.get(r.root)
      if (r.ok) {
        if (o !== undefined) this.install(o, p, now)
      } else if (!expired) {
        if (o !== undefined) o.failed.set(p.target, now + this.cfg.failedTargetMs)
        this.out.push({ type: 'rebuild-failed', root: p.root, position: p.position, target: p.target, reason: 'failed' })
      }
      if (o !== undefined && this.objs.get(r.root) === o) this.evaluate(o, now)
    })
  }

  // Time passed: rebuild deadlines, grace expiries, anti-entropy.
  tick (now: number): RepairEffect[] {
    return this.input(now, () => {
      if (this.viewAt === undefined) return
      this.wake = Number.POSITIVE_INFINITY
      this.timerAt = Number.NaN
      for (const [key, p] of this.late) {
        if (now >= p.forgetAt) this.late.delete(key)
        else this.want(p.forgetAt)
      }
      for (const [key, p] of this.pending) {
        if (now < p.deadline) { this.want(p.deadline); continue }
        this.pending.delete(key)
        p.forgetAt = now + LATE_RESULT_FACTOR * this.cfg.rebuildTimeoutMs
        this.late.set(`${key}\u0000${p.target}`, p)
        this.want(p.forgetAt)
        this.objs.get(p.root)?.failed.set(p.target, now + this.cfg.failedTargetMs)
        this.out.push({ type: 'rebuild-failed', root: p.root, position: p.position, target: p.target, reason: 'timeout' })
      }
      if (now >= this.nextRound) this.antiEntropy(now)
      this.want(this.nextRound)
      for (const o of this.objs.values()) this.evaluate(o, now)
    })
  }

  // ---- queries ----

  // What to persist: every object this node holds or is listed for.
  snapshot (): RepairSnapshot {
    const objects: RepairSnapshot['objects'] = []
    for (const o of this.objs.values()) objects.push({ record: o.rec, held: [...o.held].sort((a, b) => a - b), key: o.key })
    return { format: 1, objects }
  }

  // How `root` looks from here, or undefined if this node does not track it.
  health (root: string): Health | undefined {
    const o = this.objs.get(root)
    if (o === undefined) return undefined
    let live = 0
    for (let q = 0; q < o.n; q++) if (this.up(o, q)) live++
    return { live, n: o.n, need: o.need }
  }

  // The record this node considers winning for `root`.
  record (root: string): PlacementRecord | undefined {
    return this.objs.get(root)?.rec
  }

  // Positions of `root` this node holds (empty if none or unknown).
  held (root: string): number[] {
    const o = this.objs.get(root)
    return o === undefined ? [] : [...o.held].sort((a, b) => a - b)
  }

  // Counters for metrics: objects tracked, shares held, rebuilds running.
  stats (): { objects: number, shares: number, rebuilding: number, waiting: number } {
    let shares = 0
    for (const o of this.objs.values()) shares += o.held.size
    return { objects: this.objs.size, shares, rebuilding: this.pending.size, waiting: this.wanted.size }
  }

  // ---- machinery ----

  private input (now: number, fn: () => void): RepairEffect[] {
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidRepairInputError(`invalid repair input: now must be a finite number, got ${String(now)}`)
    this.lastNow = now
    this.out = []
    fn()
    this.dispatch(now)
    for (const [to, entries] of this.outbox) this.flush(to, entries)
    this.outbox.clear()
    if (this.dirty) { this.out.push({ type: 'persist' }); this.dirty = false }
    if (this.wake !== this.timerAt && Number.isFinite(this.wake)) {
      this.timerAt = this.wake
      this.out.push({ type: 'timer', at: this.wake })
    }
    return this.out
  }

  private want (at: number): void {
    if (at < this.wake) this.wake = at
  }

  private checkMembers (members: readonly StorageMember[]): Map<string, number> {
    if (!Array.isArray(members)) throw new InvalidRepairInputError('invalid repair input: members must be an array')
    const out = new Map<string, number>()
    for (const m of members) {
      if (typeof m?.peer !== 'string' || m.peer.length === 0 || m.peer.length > LIMITS.id) throw new InvalidRepairInputError('invalid repair input: a member needs a peer id')
      if (typeof m.weight !== 'number' || !Number.isFinite(m.weight) || m.weight < 0) throw new InvalidRepairInputError(`invalid repair input: weight of ${m.peer} must be finite and ≥ 0`)
      if (out.has(m.peer)) throw new InvalidRepairInputError(`invalid repair input: ${m.peer} is listed twice`)
      out.set(m.peer, m.weight)
    }
    return out
  }

  private start (now: number): void {
    this.viewAt = now
    this.nextRound = now
    this.want(now)
  }

  private joinOne (peer: string, weight: number, now: number): void {
    if (peer === this.self) return
    const had = this.members.get(peer)
    if (had === weight) return
    this.members.set(peer, weight)
    this.memberList = undefined
    if (had !== undefined) return
    const left = this.absent.get(peer)
    if (left !== undefined && this.viewAt !== undefined && now - Math.max(left, this.viewAt + this.cfg.warmupMs - this.cfg.graceMs) >= this.cfg.graceMs) this.apartUntil.set(peer, now)
    this.absent.delete(peer)
    // a new candidate target: objects waiting for one may proceed
    for (const o of this.objs.values()) if (o.retryAt > now) o.retryAt = now
    const roots = this.byPeer.get(peer)
    if (roots !== undefined) for (const root of [...roots]) { const o = this.objs.get(root); if (o !== undefined) this.evaluate(o, now) }
  }

  private leaveOne (peer: string, now: number): void {
    if (!this.members.delete(peer)) return
    this.memberList = undefined
    this.absent.set(peer, now)
    const roots = this.byPeer.get(peer)
    if (roots === undefined) return
    for (const root of [...roots]) { const o = this.objs.get(root); if (o !== undefined) this.evaluate(o, now) }
  }

  private create (given: PlacementRecord, key: string, now: number): Obj {
    const record = { ...given, redundancy: { ...given.redundancy }, holders: [...given.holders] } as PlacementRecord
    const { n, need } = sharesOf(record.redundancy)
    const o: Obj = {
      rec: record, tag: ++this.tags, named: new Map(), mine: record.holders.indexOf(this.self), n, need, held: new Set(), status: undefined, asking: undefined, reports: new Map(), proposed: 0,
      failed: new Map(), unrecoverable: false, former: new Map(), behind: new Map(), candidate: undefined, key, newer: false, announce: false, retryAt: 0
    }
    this.objs.set(record.root, o)
    for (const h of record.holders) { this.index(h, record.root, now); o.named.set(h, now) }
    this.dirty = true
    return o
  }

  private index (peer: string, root: string, now: number): void {
    if (peer === this.self) return
    let roots = this.byPeer.get(peer)
    if (roots === undefined) { roots = new Set(); this.byPeer.set(peer, roots) }
    roots.add(root)
    // a holder this node never saw leave (nor in its view): the views may not
    // have caught up yet, so it counts as missing only `warmupMs` from now
    if (!this.members.has(peer) && !this.absent.has(peer)) this.absent.set(peer, now - this.cfg.graceMs + this.cfg.warmupMs)
  }

  private unindex (peer: string, root: string): void {
    const roots = this.byPeer.get(peer)
    if (roots === undefined) return
    roots.delete(root)
    if (roots.size === 0) this.byPeer.delete(peer)
  }

  private adopt (o: Obj, record: PlacementRecord, now: number): void {
    const old = o.rec
    const next = { ...record, redundancy: { ...record.redundancy }, holders: [...record.holders] } as PlacementRecord
    o.rec = next
    o.tag = ++this.tags
    o.newer = false
    o.mine = next.holders.indexOf(this.self)
    o.status = o.asking = undefined
    for (const h of old.holders) {
      if (next.holders.includes(h)) continue
      this.unindex(h, next.root)
      o.reports.delete(h)
      if (h === this.self || o.former.has(h)) continue
      // a holder this record drops: tell it now, and every round until it knows
      o.former.set(h, now)
      if (this.members.has(h)) this.queue(h, this.entry(o, true))
    }
    o.named.clear()
    for (const h of next.holders) {
      if (!old.holders.includes(h)) o.named.set(h, now)
      this.index(h, next.root, now); o.former.delete(h); o.behind.delete(h)
    }
    if (o.candidate !== undefined && compareRecords(next, o.candidate.rec) >= 0) o.candidate = undefined
    this.dirty = true
  }

  private forget (o: Obj, now: number): void {
    const root = o.rec.root
    this.tombs.delete(root)
    this.tombs.set(root, { rec: o.rec, at: now })
    if (this.tombs.size > LIMITS.tombstones) this.tombs.delete(this.tombs.keys().next().value!)
    this.objs.delete(root)
    this.wanted.delete(root)
    for (const h of o.rec.holders) this.unindex(h, root)
    this.dirty = true
  }

  // Whether position q counts as live: its holder is this node and holds it,
  // or is in the view and has not reported lacking it.
  private up (o: Obj, q: number): boolean {
    const h = o.rec.holders[q]
    if (h === this.self) return o.held.has(q)
    return this.members.has(h) && !this.lacks(o, h, q)
  }

  // Whether holder h's latest status (under whichever record: shares are on
  // disk whatever record lists them) lacks position q.
  private lacks (o: Obj, h: string, q: number): boolean {
    const r = o.reports.get(h)
    return r !== undefined && !r.held.includes(q)
  }

  // The leader of `o` as this node sees it: the first live position, or -1.
  private leaderOf (o: Obj): number {
    for (let q = 0; q < o.n; q++) if (this.up(o, q)) return q
    return -1
  }

  // Whether the winning record's every position is confirmed held: by this
  // node, or by a fresh status from its (live) holder about this very record.
  private confirmed (o: Obj, now: number): boolean {
    const holders = o.rec.holders
    for (let q = 0; q < o.n; q++) {
      const h = holders[q]
      if (h === this.self) { if (!o.held.has(q)) return false; continue }
      if (!this.members.has(h)) return false
      const r = o.reports.get(h)
      if (r === undefined || r.tag !== o.tag || now - r.at > this.cfg.confirmMs || !r.held.includes(q)) return false
    }
    return true
  }

  // Is position q (held by another peer) missing, as the leader sees it?
  // Reported lacking (whether in the view or gone since): at once. Absent from the view: a grace after it left;
  // never seen by this node, or named by a record lately: a warm-up after its
  // first view, or after the record named it (the writer or the leader that
  // named it saw it live then).
  private missing (o: Obj, q: number, now: number): boolean {
    const h = o.rec.holders[q]
    if (h === this.self) return false
    // (also a holder that said it lacks its share and left: one handing off)
    if (this.lacks(o, h, q)) return true
    if (this.members.has(h)) return false
    const since = Math.max(this.absent.get(h) ?? 0, this.viewAt! + this.cfg.warmupMs - this.cfg.graceMs, (o.named.get(h) ?? Number.NEGATIVE_INFINITY) + this.cfg.warmupMs - this.cfg.graceMs)
    if (now - since >= this.cfg.graceMs) return true
    this.want(since + this.cfg.graceMs)
    return false
  }

  // Re-derives what this node should do about `o` now: drop shares no longer
  // listed (once safe), forget it, or — as its leader — queue repairs.
  private evaluate (o: Obj, now: number): void {
    const root = o.rec.root
    const holders = o.rec.holders
    if (this.extra(o) && this.confirmed(o, now)) {
      for (const p of [...o.held]) {
        if (holders[p] === this.self) continue
        this.setHeld(o, p, false)
        this.out.push({ type: 'drop', root, position: p })
      }
    }
    const mine = o.mine
    if (mine < 0 && o.held.size === 0) {
      if (!this.hasPending(root)) { this.forget(o, now); return }
    }
    if (this.viewAt === undefined || mine < 0 || !o.held.has(mine) || this.leaderOf(o) !== mine) {
      this.wanted.delete(root)
      return
    }
    if (o.announce) {
      // restarted with this record: lead only once a holder confirmed it is
      // current, or nobody answered for a grace — never while a holder says
      // there is a newer one (this node waits until it can take it, rather
      // than lead a stale branch)
      const until = this.viewAt + this.cfg.graceMs
      if (now < until || o.newer) { this.want(Math.max(until, this.nextRound)); this.wanted.delete(root); return }
      o.announce = false
    }
    // this node leads the repair of `o`
    let live = 0
    let due = false
    let open = false
    for (let q = 0; q < o.n; q++) {
      if (this.up(o, q)) { live++; continue }
      if (this.missing(o, q, now)) {
        due = true
        if (!this.pending.has(`${root}\u0000${q}`)) open = true
      }
    }
    if (live >= o.need) o.unrecoverable = false
    else if (due) {
      if (!o.unrecoverable) {
        o.unrecoverable = true
        this.out.push({ type: 'unrecoverable', root, live, need: o.need })
      }
      this.wanted.delete(root)
      return
    }
    if (open) this.wanted.add(root)
    else this.wanted.delete(root)
  }

  private hasPending (root: string): boolean {
    for (const p of this.pending.values()) if (p.root === root) return true
    return false
  }

  // Starts rebuilds for wanted objects, most endangered first, up to the cap.
  private dispatch (now: number): void {
    if (this.wanted.size === 0 || this.pending.size >= this.cfg.maxConcurrentRebuilds) return
    const order: { o: Obj, slack: number }[] = []
    for (const root of this.wanted) {
      const o = this.objs.get(root)
      if (o === undefined) { this.wanted.delete(root); continue }
      if (o.retryAt > now) { this.want(o.retryAt); continue }
      let live = 0
      for (let q = 0; q < o.n; q++) if (this.up(o, q)) live++
      order.push({ o, slack: live - o.need })
    }
    order.sort((a, b) => a.slack - b.slack || (a.o.rec.root < b.o.rec.root ? -1 : 1))
    for (const { o } of order) {
      if (this.pending.size >= this.cfg.maxConcurrentRebuilds) return
      const root = o.rec.root
      let stuck = false
      for (let q = 0; q < o.n && this.pending.size < this.cfg.maxConcurrentRebuilds; q++) {
        if (this.up(o, q) || this.pending.has(`${root}\u0000${q}`) || !this.missing(o, q, now)) continue
        const target = this.target(o, q, now)
        if (target === undefined) { stuck = true; continue }
        this.startRebuild(o, q, target, now)
      }
      if (stuck) {
        // nobody to rebuild onto: retry when a failed target is allowed again,
        // a member joins, or at the next round
        let at = this.nextRound
        for (const until of o.failed.values()) if (until > now && until < at) at = until
        o.retryAt = at
        this.want(at)
      } else {
        let open = false
        for (let q = 0; q < o.n; q++) if (!this.up(o, q) && !this.pending.has(`${root}\u0000${q}`) && this.missing(o, q, now)) open = true
        if (!open) this.wanted.delete(root)
      }
    }
  }

  // A target for position q: the holder itself when it is live and only lost
  // its share (restored in place); otherwise the best-ranked live member
  // that holds no position, is no running target, and has not failed lately.
  private target (o: Obj, q: number, now: number): string | undefined {
    const root = o.rec.root
    const h = o.rec.holders[q]
    const failedLately = (peer: string): boolean => (o.failed.get(peer) ?? 0) > now || this.handedOff.has(peer)
    if (this.members.has(h) && !failedLately(h)) return h
    const exclude = new Set<string>(o.rec.holders)
    exclude.add(this.self)
    for (const p of this.pending.values()) if (p.root === root) exclude.add(p.target)
    for (const [peer, until] of o.failed) {
      if (until > now) exclude.add(peer)
      else o.failed.delete(peer)
    }
    for (const peer of this.handedOff.keys()) exclude.add(peer)
    if (this.memberList === undefined) this.memberList = [...this.members].map(([peer, weight]) => ({ peer, weight }))
    return rankHolders(o.key, this.memberList, 1, exclude)[0]
  }

  private startRebuild (o: Obj, q: number, target: string, now: number): void {
    const rec = o.rec
    const replaced = rec.holders[q]
    let proposal = rec
    if (target !== replaced) {
      const holders = [...rec.holders]
      holders[q] = target
      proposal = { ...rec, holders, version: Math.max(rec.version, o.proposed) + 1 }
      o.proposed = proposal.version
    }
    const sources: ShareSource[] = []
    for (let p = 0; p < o.n; p++) {
      if (p === q || !this.up(o, p)) continue
      const s = { peer: rec.holders[p], position: p }
      if (s.peer === this.self) sources.unshift(s)
      else sources.push(s)
    }
    const moveMs = Math.ceil(o.need * rec.shareBytes * 1000 / this.cfg.rebuildBytesPerSec)
    const deadline = now + this.cfg.rebuildTimeoutMs + moveMs
    this.pending.set(`${rec.root}\u0000${q}`, { root: rec.root, position: q, target, replaced, baseTag: o.tag, proposal, deadline, forgetAt: 0 })
    this.want(deadline)
    this.out.push({ type: 'rebuild', root: rec.root, position: q, target, sources, need: o.need, record: proposal, key: o.key, deadline })
  }

  // A rebuild succeeded: `p.target` durably holds share `p.position`.
  private install (o: Obj, p: Pending, now: number): void {
    const rec = o.rec
    const q = p.position
    if (p.target === p.replaced) {
      // a lost share restored in place: the record stands
      if (rec.holders[q] !== p.target) return
      const r = o.reports.get(p.target)
      const held = r !== undefined && r.tag === o.tag ? r.held.filter(x => x !== q) : []
      held.push(q)
      o.reports.set(p.target, { tag: o.tag, held, at: now, rec })
      this.out.push({ type: 'repaired', root: rec.root, position: q, target: p.target, replaced: p.replaced, version: rec.version })
      this.queue(p.target, this.entry(o, true))
      return
    }
    // obsolete: the position was refilled meanwhile (the target's copy is
    // dropped by it once it learns the winning record)
    if (rec.holders[q] !== p.replaced || rec.holders.includes(p.target)) return
    // the proposal as it is if nothing changed since (the target holds that
    // very record); otherwise one that beats every proposal made meanwhile
    let next = p.proposal
    if (o.tag !== p.baseTag || o.proposed !== p.proposal.version) {
      const holders = [...rec.holders]
      holders[q] = p.target
      next = { ...rec, holders, version: Math.max(rec.version, o.proposed) + 1 }
      o.proposed = next.version
    }
    this.adopt(o, next, now)
    o.reports.set(p.target, { tag: o.tag, held: [q], at: now, rec: next })
    this.out.push({ type: 'repaired', root: rec.root, position: q, target: p.target, replaced: p.replaced, version: next.version })
    // every holder, old and new, hears of it; the replaced one may come back
    // (the replaced one, a former holder now, was told by adopt if in view)
    const entry = this.entry(o, true)
    for (const h of o.rec.holders) if (h !== this.self) this.queue(h, entry)
  }

  private onEntry (from: string, e: StatusEntry, now: number): void {
    const r = e.record
    const o = this.objs.get(r.root)
    if (o === undefined) {
      // asked about a root this node does not hold: say so. If the record
      // lists this node, its leader restores the share (e.g. after a lost
      // disk); if not, the asker learns this former holder is done with it —
      // and, if this node dropped it for a newer record, which one. Only
      // when asked: two nodes that both forgot the root must not answer
      // each other forever.
      if (e.ask) {
        const tomb = this.tombs.get(r.root)
        const other = tomb !== undefined && sameObject(tomb.rec, r) && compareRecords(tomb.rec, r) !== 0
        this.queue(from, { record: other ? tomb.rec : r, held: [], ask: false })
      }
      return
    }
    if (!sameObject(r, o.rec)) return
    let cmp = compareRecords(r, o.rec)
    let adopted = false
    // a better record is taken only if this node has its own evidence for
    // every holder it removes (`justified`); then at once from a holder of
    // ours, or a former holder (one we told of our record); from anyone else
    // only once every holder it lists has confirmed its share under it.
    // Nobody can make this node give up on a holder that is live and holding
    // in its own view.
    if (cmp > 0 && !this.justified(o, r, from)) {
      // not (yet): asked again next round, when the view may have caught up
      if (o.rec.holders.includes(from)) o.newer = true
    } else if (cmp > 0 && (o.rec.holders.includes(from) || o.former.has(from))) {
      this.adopt(o, r, now)
      adopted = true
      cmp = 0
    } else if (cmp > 0 && this.consider(o, r, from, e.held, now)) {
      adopted = true
      cmp = 0
    }
    // a holder answered with our record and a share of it, or we took its
    // newer one: the record is current. (An empty answer may come from a node
    // that dropped the root long ago: it proves nothing.)
    if (o.announce && (adopted || (cmp === 0 && e.held.length > 0 && o.rec.holders.includes(from)))) o.announce = false
    if (o.rec.holders.includes(from)) o.reports.set(from, { tag: cmp === 0 ? o.tag : -1, held: [...e.held], at: now, rec: r })
    else if (cmp >= 0) o.former.delete(from)
    if (cmp >= 0) o.behind.delete(from)
    else {
      // an older record (perhaps of a lineage that grew apart in a
      // partition): its holders must learn ours
      for (const h of r.holders) {
        if (h === this.self || o.behind.has(h) || o.former.has(h) || o.rec.holders.includes(h) || o.behind.size >= 2 * o.n) continue
        o.behind.set(h, now)
        if (this.members.has(h)) this.queue(h, this.entry(o, true))
      }
    }
    if (e.ask || adopted || cmp < 0) this.queue(from, this.entry(o, false))
    this.evaluate(o, now)
  }

  // Tracks a better record from an untrusted peer: asks its holders (once
  // per new candidate, and each round while unconfirmed), counts the holders
  // that answered with it and their share, and adopts it when all have.
  // Returns whether it was adopted.
  private consider (o: Obj, r: PlacementRecord, from: string, held: number[], now: number): boolean {
    let c = o.candidate
    if (c === undefined || compareRecords(r, c.rec) > 0) {
      c = o.candidate = { rec: { ...r, redundancy: { ...r.redundancy }, holders: [...r.holders] } as PlacementRecord, confirmed: new Set(), since: now }
      this.askCandidate(o)
    }
    if (compareRecords(r, c.rec) !== 0) return false
    const q = c.rec.holders.indexOf(from)
    if (q >= 0 && held.includes(q)) c.confirmed.add(q)
    const mine = c.rec.holders.indexOf(this.self)
    if (mine >= 0 && o.held.has(mine)) c.confirmed.add(mine)
    if (c.confirmed.size < c.rec.holders.length || !this.justified(o, c.rec)) return false
    this.adopt(o, c.rec, now)
    return true
  }

  private askCandidate (o: Obj): void {
    const c = o.candidate!
    c.rec.holders.forEach((h, q) => { if (h !== this.self && !c.confirmed.has(q) && this.members.has(h)) this.queue(h, this.entry(o, true)) })
  }

  // One anti-entropy round: every holder reports to the leader; the leader
  // asks holders it has no fresh status from; holders with shares no longer
  // listed (and restarted holders) ask every holder of the winning record;
  // former holders still unaware of the newer record are told again.
  private antiEntropy (now: number): void {
    this.round++
    for (const o of this.objs.values()) {
      const holders = o.rec.holders
      if (o.candidate !== undefined) {
        if (now - o.candidate.since > this.cfg.formerMs) o.candidate = undefined
        else this.askCandidate(o)
      }
      if (o.former.size > 0 || o.behind.size > 0) {
        for (const set of [o.former, o.behind]) {
          for (const [f, since] of set) {
            if (now - since > this.cfg.formerMs) set.delete(f)
            else if (this.members.has(f)) this.queue(f, this.entry(o, true))
          }
        }
      }
      if (o.announce || this.extra(o)) {
        const entry = this.entry(o, true)
        for (let q = 0; q < o.n; q++) {
          const h = holders[q]
          if (h === this.self || !this.members.has(h)) continue
          if (o.announce || !this.freshHolder(o, h, q, now)) this.queue(h, entry)
        }
        continue
      }
      const mine = o.mine
      if (mine < 0) continue
      const leader = this.leaderOf(o)
      if (leader === mine) {
        for (let q = 0; q < o.n; q++) {
          const h = holders[q]
          if (h === this.self || !this.members.has(h) || this.freshHolder(o, h, q, now)) continue
          this.queue(h, this.entry(o, true))
        }
      } else if (leader >= 0) {
        // ask now and then: a leader that forgot the root answers "none",
        // and then the next holder leads
        const l = holders[leader]
        const r = o.reports.get(l)
        this.queue(l, this.entry(o, r === undefined || r.tag !== o.tag || now - r.at > LEADER_SILENCE_CONFIRMS * this.cfg.confirmMs))
      } else {
        const entry = this.entry(o, false)
        for (const h of holders) if (h !== this.self && this.members.has(h)) this.queue(h, entry)
      }
    }
    for (const [root, t] of this.tombs) {
      if (now - t.at <= this.cfg.formerMs) break
      this.tombs.delete(root)
    }
    const forgetMs = ABSENCE_MEMORY_GRACES * this.cfg.graceMs
    for (const [peer, since] of this.absent) if (now - since > forgetMs && !this.byPeer.has(peer)) this.absent.delete(peer)
    for (const [peer, at] of this.apartUntil) if (now - at > this.cfg.apartMemoryMs) this.apartUntil.delete(peer)
    for (const [peer, at] of this.handedOff) if (now - at > this.cfg.formerMs) this.handedOff.delete(peer)
    const u = placementHash(this.self, `round ${this.round}`)
    this.nextRound = now + Math.round(this.cfg.antiEntropyMs * (1 + (2 * u - 1) * ANTI_ENTROPY_JITTER))
  }

  // Whether this node has its own evidence for taking `next` in place of its
  // record (and the version rises by at most MAX_VERSION_STEP). Each holder
  // `next` removes must be out of this node's view, or have told it that it
  // lacks its share, or have been apart from it lately (gone from its view
  // for a grace, what makes a leader replace a holder, and back not long ago).
  // Holders that were with this node all along (this node included, unless it
  // lacks its share) may be removed only if this node's group was the one cut
  // off (`cutOff`). So no peer, holder or not, can make this
  // node give up on a majority of holders that were live and holding in its
  // view; and a drop needs every holder of the winning record to confirm
  // under it, which honest holders do only for records they took on their
  // own evidence.
  private justified (o: Obj, next: PlacementRecord, from?: string): boolean {
    if (next.version - o.rec.version > MAX_VERSION_STEP) return false
    // no view yet: no evidence about anyone
    if (this.viewAt === undefined) return next.holders.every((h, q) => h === o.rec.holders[q])
    // restarted lately: this node was the one away and has no evidence about
    // anyone, and its records may be stale. It takes a record that every
    // holder it shares with its own (other than itself, and in its view)
    // vouches for — reported holding that record or a newer one — and that at
    // least one does: one co-holder alone cannot mislead it. (A record that
    // keeps no co-holder but liars can make it drop its own share; not the
    // shares of the co-holders it removes, which keep theirs and restore it.)
    if (o.announce || (this.restarted && this.lastNow - this.viewAt <= this.cfg.apartMemoryMs)) {
      let vouched = 0
      for (const h of next.holders) {
        if (h === this.self || !o.rec.holders.includes(h) || !this.members.has(h)) continue
        const r = o.reports.get(h)
        if (h !== from && (r === undefined || compareRecords(r.rec, next) < 0)) return false
        vouched++
      }
      return vouched > 0
    }
    const cur = o.rec.holders
    let together = 0
    let me = false
    for (let q = 0; q < o.n; q++) {
      const x = cur[q]
      // (a holder moved to another position is not removed: the record is
      // confirmed, and its old share dropped, only once it holds the new one)
      if (next.holders.includes(x)) continue
      if (x === this.self) me = o.held.has(q)
      else if (this.members.has(x) && !this.lacks(o, x, q) && !this.wasApart(x)) together++
    }
    return (together === 0 && !me) || this.cutOff(o)
  }

  // Whether this node's group was the one cut off: of the holders of its
  // record it sees now (and that hold their shares), those that were apart
  // from it lately outnumber those that stayed with it, itself included. That
  // is what a repair by the other side of a partition looks like to the
  // minority. A group that stayed together and held half of an object's
  // positions or more is never displaced this way, whatever the others claim.
  // (Where the minority repaired more, its record is the newer one and both
  // stay, each fully held: see the README.)
  private cutOff (o: Obj): boolean {
    let group = 1
    let apart = 0
    o.rec.holders.forEach((h, q) => {
      if (h === this.self || !this.members.has(h) || this.lacks(o, h, q)) return
      if (this.wasApart(h)) apart++
      else group++
    })
    return apart > group
  }

  // Whether `peer`, a member in view now, came back lately (apartMemoryMs)
  // after being apart from this node.
  private wasApart (peer: string): boolean {
    const back = this.apartUntil.get(peer)
    return back !== undefined && this.lastNow - back <= this.cfg.apartMemoryMs
  }

  private freshHolder (o: Obj, h: string, q: number, now: number): boolean {
    const r = o.reports.get(h)
    return r !== undefined && r.tag === o.tag && now - r.at <= this.cfg.confirmMs && r.held.includes(q)
  }

  // This node's status for `o` (shared, never mutated: a new one is made
  // whenever the record or the held set changes).
  private entry (o: Obj, ask: boolean): StatusEntry {
    if (ask) {
      if (o.asking === undefined) o.asking = { record: o.rec, held: [...o.held].sort((a, b) => a - b), ask: true }
      return o.asking
    }
    if (o.status === undefined) o.status = { record: o.rec, held: [...o.held].sort((a, b) => a - b), ask: false }
    return o.status
  }

  private setHeld (o: Obj, p: number, on: boolean): void {
    if (o.held.has(p) === on) return
    if (on) o.held.add(p)
    else o.held.delete(p)
    o.status = o.asking = undefined
    this.dirty = true
  }

  // Whether this node holds a share `o`'s record lists at another holder.
  private extra (o: Obj): boolean {
    return o.held.size > (o.mine >= 0 && o.held.has(o.mine) ? 1 : 0)
  }

  private queue (to: string, entry: StatusEntry): void {
    if (to === this.self) return
    const list = this.outbox.get(to)
    if (list === undefined) { this.outbox.set(to, [entry]); return }
    // one entry per root per message: the latest wins
    const i = list.findIndex(x => x.record.root === entry.record.root)
    if (i < 0) list.push(entry)
    else list[i] = { ...entry, ask: entry.ask || list[i].ask }
  }

  private flush (to: string, entries: StatusEntry[]): void {
    let chunk: StatusEntry[] = []
    let bytes = 0
    for (const e of entries) {
      let size = e.record.root.length + 64 + 8 * e.held.length
      for (const h of e.record.holders) size += h.length
      if (chunk.length > 0 && (chunk.length >= LIMITS.entries || bytes + size > LIMITS.bytes / 2)) {
        this.out.push({ type: 'send', to, msg: this.statusOf(chunk) })
        chunk = []
        bytes = 0
      }
      chunk.push(e)
      bytes += size
    }
    if (chunk.length > 0) this.out.push({ type: 'send', to, msg: this.statusOf(chunk) })
  }

  private statusOf (entries: StatusEntry[]): RepairMessage {
    return this.leaving ? { type: 'status', entries, leaving: true } : { type: 'status', entries }
  }
}
