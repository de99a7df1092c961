// The deterministic simulator: one process, virtual time in integer ms, one
// seeded PRNG for every fault decision, and an event queue whose ties break by
// insertion order. Given the same seed and the same driving script, every run
// produces the same sequence of events (and so the same trace hash).

import { Prng } from '@webfabric/protocol'
import { EventQueue, type Scheduled } from './queue.ts'

// What a node sees of the world. Calls made after the node crashed are ignored.
export interface NodeEnv<M> {
  readonly id: string
  // The node's local clock: virtual time plus this node's skew.
  now (): number
  // Sends a message; faults (loss, latency, duplication, partition) apply.
  send (to: string, message: M): void
  // Fires `onTimer(tag)` after `delayMs` of virtual time; returns a handle.
  setTimer (delayMs: number, tag?: unknown): number
  // Fires `onTimer(tag)` when the local clock reaches `localAt` (now if past).
  setTimerAt (localAt: number, tag?: unknown): number
  // Cancels a pending timer; unknown or fired handles are ignored.
  cancelTimer (handle: number): void
  // This node's own random stream (forked from the simulation seed).
  readonly random: Prng
  // What the previous life of this node passed to `persist`, if anything.
  readonly persisted: unknown
  // Stores a value that survives crash and restart (a node's "disk").
  persist (state: unknown): void
}

// A protocol participant plugged into the simulator. A core written as
// `step(input) -> effects[]` fits behind these callbacks with a small adapter.
export interface SimNode<M> {
  start? (): void
  onMessage (from: string, message: M): void
  onTimer? (tag: unknown): void
}

// Builds a fresh node instance; called on `add` and on every `restart`.
export type NodeFactory<M, N extends SimNode<M>> = (env: NodeEnv<M>) => N

// Latency bounds in ms; each message draws uniformly in [min, max], so jitter
// reorders messages naturally.
export interface Latency { min: number, max: number }

// Fault settings for a link (or, as defaults, for every link).
export interface LinkFaults {
  loss?: number
  latency?: Latency
  duplicate?: number
}

// Global fault settings, all driven by the simulation's PRNG.
export interface Faults {
  // Probability that a message is lost.
  loss: number
  // Per-message latency distribution.
  latency: Latency
  // Probability that a delivered message is delivered a second time.
  duplicate: number
  // Probability that a message is held back by up to `reorderMs` extra.
  reorder: number
  reorderMs: number
}

// Simulator options. `size` measures a message for the metrics (records,
// bytes: the protocol decides); `digest` folds a message into the trace hash.
export interface SimInit<M> {
  seed: number
  faults?: Partial<Faults>
  size?: (message: M) => number
  digest?: (message: M) => number
  onEvent?: (event: TraceEvent<M>) => void
}

// One observable step of a run, reported to `onEvent`.
export interface TraceEvent<M> {
  at: number
  kind: 'start' | 'deliver' | 'drop' | 'timer' | 'crash' | 'restart'
  node: string
  from?: string
  message?: M
  reason?: DropReason
}

// Why a message was not delivered.
export type DropReason = 'loss' | 'partition' | 'crash' | 'unknown'

// Message counters, per node and in total. Per node, `sent`/`dropped` count
// what the node sent, `delivered` what it received.
export interface Metrics {
  sent: number
  delivered: number
  dropped: number
  sentSize: number
  deliveredSize: number
}

// Totals add duplicates and a breakdown of drops by reason.
export interface TotalMetrics extends Metrics {
  duplicated: number
  droppedBy: Record<DropReason, number>
}

const DEFAULT_FAULTS: Faults = { loss: 0, latency: { min: 1, max: 10 }, duplicate: 0, reorder: 0, reorderMs: 0 }

const KIND_DELIVER = 0
const KIND_TIMER = 1
const KIND_START = 2
const KIND_ACTION = 3

interface Slot<M, N> {
  id: string
  idx: number
  node: N | undefined
  factory: NodeFactory<M, N & SimNode<M>>
  up: boolean
  epoch: number
  skew: number
  persisted: unknown
  metrics: Metrics
  timers: Map<number, Ev<M, N>>
}

interface Ev<M, N> extends Scheduled {
  kind: number
  slot: Slot<M, N> | undefined
  from: Slot<M, N> | undefined
  message: M | undefined
  epoch: number
  tag: unknown
  handle: number
  fn: (() => void) | undefined
  cancelled: boolean
}

function zero (): Metrics {
  return { sent: 0, delivered: 0, dropped: 0, sentSize: 0, deliveredSize: 0 }
}

// The simulator. `M` is the message type, `N` the node type (so tests can
// reach into a node, e.g. `sim.node(id).core.view()`).
export class Simulator<M, N extends SimNode<M> = SimNode<M>> {
  // The fault stream; nodes get their own forks of `nodeSeeds`.
  readonly random: Prng
  readonly faults: Faults
  readonly totals: TotalMetrics
  private readonly nodeSeeds: Prng
  private readonly queue = new EventQueue<Ev<M, N>>()
  private readonly slots = new Map<string, Slot<M, N>>()
  private readonly order: Slot<M, N>[] = []
  private readonly links = new Map<string, LinkFaults>()
  private groups: Map<string, number> | undefined
  private readonly size: ((message: M) => number) | undefined
  private readonly digest: ((message: M) => number) | undefined
  private readonly onEvent: ((event: TraceEvent<M>) => void) | undefined
  private clock = 0
  private handles = 0
  private h1 = 0x811c9dc5
  private h2 = 0x2545f491
  // Number of events processed so far.
  events = 0

  constructor (init: SimInit<M>) {
    const root = new Prng(init.seed)
    this.random = root.fork()
    this.nodeSeeds = root.fork()
    this.faults = { ...DEFAULT_FAULTS, ...init.faults }
    this.size = init.size
    this.digest = init.digest
    this.onEvent = init.onEvent
    this.totals = { ...zero(), duplicated: 0, droppedBy: { loss: 0, partition: 0, crash: 0, unknown: 0 } }
  }

  // Current virtual time (ms).
  now (): number {
    return this.clock
  }

  // Adds a node and schedules its start at the current virtual time.
  add (id: string, factory: NodeFactory<M, N>, opts: { skew?: number } = {}): N {
    if (this.slots.has(id)) throw new Error(`node ${id} already exists; use restart() to bring a crashed node back`)
    const slot: Slot<M, N> = {
      id,
      idx: this.order.length,
      node: undefined,
      factory,
      up: false,
      epoch: 0,
      skew: opts.skew ?? 0,
      persisted: undefined,
      metrics: zero(),
      timers: new Map()
    }
    this.slots.set(id, slot)
    this.order.push(slot)
    return this.boot(slot)
  }

  // Stops a node at once: its pending timers and the messages in flight to it
  // are dropped; what it persisted survives.
  crash (id: string): void {
    const slot = this.slot(id)
    if (!slot.up) return
    slot.up = false
    slot.epoch++
    slot.node = undefined
    for (const ev of slot.timers.values()) ev.cancelled = true
    slot.timers.clear()
    this.mark(3, slot.idx, 0, 0)
    this.onEvent?.({ at: this.clock, kind: 'crash', node: id })
  }

  // Brings a crashed node back as a fresh instance (from `factory`, or the one
  // it was added with) that sees the state it persisted. Crashes it first if up.
  restart (id: string, factory?: NodeFactory<M, N>): N {
    const slot = this.slot(id)
    if (slot.up) this.crash(id)
    if (factory !== undefined) slot.factory = factory
    this.mark(4, slot.idx, 0, 0)
    this.onEvent?.({ at: this.clock, kind: 'restart', node: id })
    return this.boot(slot)
  }

  // Whether the node exists and is running.
  isUp (id: string): boolean {
    return this.slots.get(id)?.up === true
  }

  // The running instance of a node; throws if it is down or unknown.
  node (id: string): N {
    const slot = this.slot(id)
    if (!slot.up || slot.node === undefined) throw new Error(`node ${id} is not running`)
    return slot.node
  }

  // Every node ever added, in the order added.
  ids (): string[] {
    return this.order.map(s => s.id)
  }

  // The nodes currently running, in the order added.
  upIds (): string[] {
    const out: string[] = []
    for (const s of this.order) if (s.up) out.push(s.id)
    return out
  }

  // Splits the network: nodes reach only nodes in their own group; nodes in no
  // group form one more group together. Messages in flight across are lost.
  partition (groups: readonly (readonly string[])[]): void {
    const map = new Map<string, number>()
    groups.forEach((g, i) => { for (const id of g) map.set(id, i) })
    this.groups = map
  }

  // Removes the partition.
  heal (): void {
    this.groups = undefined
  }

  // Whether a message from `a` would currently reach `b` (partition only).
  reachable (a: string, b: string): boolean {
    if (this.groups === undefined) return true
    return (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1)
  }

  // Overrides the faults of the directed link from → to; `undefined` clears.
  setLink (from: string, to: string, faults: LinkFaults | undefined): void {
    const key = `${from}\u0000${to}`
    if (faults === undefined) this.links.delete(key)
    else this.links.set(key, faults)
  }

  // Sets a node's clock skew: its now() reads virtual time + skew.
  setSkew (id: string, skewMs: number): void {
    this.slot(id).skew = skewMs
  }

  // Runs `fn` at virtual time `at` (in event order with everything else).
  at (at: number, fn: () => void): void {
    this.push(KIND_ACTION, Math.max(at, this.clock), undefined, undefined, undefined, 0, undefined, 0, fn)
  }

  // Runs `fn` after `delayMs` of virtual time.
  after (delayMs: number, fn: () => void): void {
    this.at(this.clock + delayMs, fn)
  }

  // Processes every event up to and including virtual time `untilMs`, then
  // sets the clock to `untilMs`.
  run (untilMs: number): void {
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.at > untilMs) break
      this.process(this.queue.pop()!)
    }
    if (untilMs > this.clock) this.clock = untilMs
  }

  // Runs for `ms` more virtual time.
  runFor (ms: number): void {
    this.run(this.clock + ms)
  }

  // Runs until `predicate()` holds, for at most `maxMs` more virtual time.
  // Returns the virtual time at which it held, or undefined. The predicate is
  // checked after every event, or every `everyMs` if given (for costly ones).
  runUntil (predicate: () => boolean, maxMs: number, everyMs?: number): number | undefined {
    const deadline = this.clock + maxMs
    if (predicate()) return this.clock
    if (everyMs !== undefined && everyMs > 0) {
      while (this.clock < deadline) {
        this.run(Math.min(this.clock + everyMs, deadline))
        if (predicate()) return this.clock
      }
      return undefined
    }
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.at > deadline) break
      this.process(this.queue.pop()!)
      if (predicate()) return this.clock
    }
    this.clock = Math.max(this.clock, deadline)
    return predicate() ? this.clock : undefined
  }

  // A 64-bit hash (hex) of every event processed so far: equal for runs with
  // the same seed and script, different as soon as anything diverges.
  traceHash (): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0')
  }

  // The counters of one node (live object; reset by resetMetrics).
  nodeMetrics (id: string): Metrics {
    return this.slot(id).metrics
  }

  // Zeroes every counter, e.g. to measure a steady-state window.
  resetMetrics (): void {
    for (const s of this.order) s.metrics = zero()
    Object.assign(this.totals, zero(), { duplicated: 0, droppedBy: { loss: 0, partition: 0, crash: 0, unknown: 0 } })
  }

  private slot (id: string): Slot<M, N> {
    const slot = this.slots.get(id)
    if (slot === undefined) throw new Error(`unknown node ${id}`)
    return slot
  }

  private boot (slot: Slot<M, N>): N {
    slot.up = true
    const epoch = slot.epoch
    const live = (): boolean => slot.up && slot.epoch === epoch
    const env: NodeEnv<M> = {
      id: slot.id,
      random: this.nodeSeeds.fork(),
      persisted: slot.persisted,
      now: () => this.clock + slot.skew,
      send: (to, message) => { if (live()) this.send(slot, to, message) },
      setTimer: (delayMs, tag) => live() ? this.timer(slot, this.clock + Math.max(0, delayMs), tag) : -1,
      setTimerAt: (localAt, tag) => live() ? this.timer(slot, Math.max(this.clock, localAt - slot.skew), tag) : -1,
      cancelTimer: (handle) => {
        const ev = slot.timers.get(handle)
        if (ev !== undefined) { ev.cancelled = true; slot.timers.delete(handle) }
      },
      persist: (state) => { if (live()) slot.persisted = state }
    }
    const node = slot.factory(env)
    slot.node = node
    this.push(KIND_START, this.clock, slot, undefined, undefined, epoch, undefined, 0, undefined)
    return node
  }

  private timer (slot: Slot<M, N>, at: number, tag: unknown): number {
    const handle = ++this.handles
    const ev = this.push(KIND_TIMER, at, slot, undefined, undefined, slot.epoch, tag, handle, undefined)
    slot.timers.set(handle, ev)
    return handle
  }

  private send (from: Slot<M, N>, to: string, message: M): void {
    const size = this.size === undefined ? 1 : this.size(message)
    from.metrics.sent++
    from.metrics.sentSize += size
    this.totals.sent++
    this.totals.sentSize += size
    const dest = this.slots.get(to)
    if (dest === undefined) { this.drop(from, to, message, 'unknown', undefined); return }
    if (!this.reachable(from.id, to)) { this.drop(from, to, message, 'partition', dest); return }
    const f = this.faults
    let loss = f.loss
    let latency = f.latency
    let duplicate = f.duplicate
    if (this.links.size > 0) {
      const link = this.links.get(`${from.id}\u0000${to}`)
      if (link !== undefined) {
        loss = link.loss ?? loss
        latency = link.latency ?? latency
        duplicate = link.duplicate ?? duplicate
      }
    }
    const r = this.random
    if (loss > 0 && r.float() < loss) { this.drop(from, to, message, 'loss', dest); return }
    const copies = duplicate > 0 && r.float() < duplicate ? 2 : 1
    if (copies === 2) this.totals.duplicated++
    for (let i = 0; i < copies; i++) {
      let delay = latency.min + r.int(latency.max - latency.min + 1)
      if (f.reorder > 0 && r.float() < f.reorder) delay += r.int(f.reorderMs + 1)
      this.push(KIND_DELIVER, this.clock + delay, dest, from, message, dest.epoch, undefined, 0, undefined)
    }
  }

  private drop (from: Slot<M, N>, to: string, message: M, reason: DropReason, dest: Slot<M, N> | undefined): void {
    from.metrics.dropped++
    this.totals.dropped++
    this.totals.droppedBy[reason]++
    this.mark(5, dest?.idx ?? -1, from.idx, 0)
    this.onEvent?.({ at: this.clock, kind: 'drop', node: to, from: from.id, message, reason })
  }

  private push (kind: number, at: number, slot: Slot<M, N> | undefined, from: Slot<M, N> | undefined, message: M | undefined, epoch: number, tag: unknown, handle: number, fn: (() => void) | undefined): Ev<M, N> {
    const ev: Ev<M, N> = { at, seq: 0, kind, slot, from, message, epoch, tag, handle, fn, cancelled: false }
    this.queue.push(ev)
    return ev
  }

  private process (ev: Ev<M, N>): void {
    if (ev.cancelled) return
    this.clock = ev.at
    this.events++
    const slot = ev.slot
    switch (ev.kind) {
      case KIND_ACTION:
        this.mark(6, 0, 0, 0)
        ev.fn!()
        return
      case KIND_START:
        if (slot === undefined || !slot.up || slot.epoch !== ev.epoch) return
        this.mark(0, slot.idx, 0, 0)
        this.onEvent?.({ at: this.clock, kind: 'start', node: slot.id })
        slot.node!.start?.()
        return
      case KIND_TIMER:
        if (slot === undefined || !slot.up || slot.epoch !== ev.epoch) return
        slot.timers.delete(ev.handle)
        this.mark(1, slot.idx, 0, 0)
        this.onEvent?.({ at: this.clock, kind: 'timer', node: slot.id })
        slot.node!.onTimer?.(ev.tag)
        return
      case KIND_DELIVER: {
        const from = ev.from!
        const message = ev.message as M
        if (slot === undefined || !slot.up || slot.epoch !== ev.epoch) { this.drop(from, slot?.id ?? '', message, 'crash', slot); return }
        if (!this.reachable(from.id, slot.id)) { this.drop(from, slot.id, message, 'partition', slot); return }
        const size = this.size === undefined ? 1 : this.size(message)
        slot.metrics.delivered++
        slot.metrics.deliveredSize += size
        this.totals.delivered++
        this.totals.deliveredSize += size
        this.mark(2, slot.idx, from.idx, this.digest === undefined ? 0 : this.digest(message))
        this.onEvent?.({ at: this.clock, kind: 'deliver', node: slot.id, from: from.id, message })
        slot.node!.onMessage(from.id, message)
      }
    }
  }

  private mark (kind: number, a: number, b: number, c: number): void {
    const t = this.clock
    this.h1 = lane1(lane1(lane1(lane1(lane1(lane1(this.h1, t >>> 0), (t / 4294967296) >>> 0), kind), a), b), c)
    this.h2 = lane2(lane2(lane2(lane2(lane2(lane2(this.h2, t >>> 0), (t / 4294967296) >>> 0), kind), a), b), c)
  }
}

function lane1 (h: number, v: number): number {
  h = Math.imul(h ^ v, 0x01000193)
  return (h << 13) | (h >>> 19)
}

function lane2 (h: number, v: number): number {
  return Math.imul(h ^ v, 0x85ebca6b) ^ (h >>> 15)
}
