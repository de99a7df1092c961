// The dissemination queue (SWIM's infection-style piggybacking): each record
// is sent a bounded number of times, fewest-sent first, newest first among
// equals. One record per key: a newer record supersedes the old. Records
// come in priority classes (URGENT: suspicions, refutations, leaves; UPDATE:
// newer heartbeats of known members; JOIN: new members) and a class is only
// served when the ones above are empty, so a backlog of joins cannot delay
// a refutation past the suspicion timeout. A record is "fresh" until it has been sent
// `eager` times: fresh records are pushed by dedicated gossip messages, the
// remaining sends ride on probe traffic.

import type { Heartbeat, Suspicion } from './types.ts'

interface Item {
  peer: string
  hb: Heartbeat | undefined
  sus: Suspicion | undefined
  sent: number
  live: boolean
  cls: number
}

// Priority classes, most urgent first.
export const URGENT = 0
export const UPDATE = 1
export const JOIN = 2

// Items with the same send count; taken newest-first, evicted oldest-first.
interface Level {
  items: Item[]
  head: number
}

// Records waiting to be piggybacked, bucketed by how often they were sent.
export class BroadcastQueue {
  private readonly byPeer = new Map<string, Item>()
  private readonly classes: Level[][] = [[{ items: [], head: 0 }], [{ items: [], head: 0 }], [{ items: [], head: 0 }]]
  private readonly counts = [0, 0, 0]
  private dead = 0
  private freshCount = 0
  private readonly eager: number

  constructor (eager: number) {
    this.eager = eager
  }

  // Records not yet sent `eager` times.
  get fresh (): number {
    return this.freshCount
  }

  // Records still to be disseminated.
  get size (): number {
    return this.byPeer.size
  }

  // Queues a heartbeat or a suspicion under `key`, replacing any older one;
  // beyond `cap` records in its class, the most-sent, oldest ones are dropped
  // (anti-entropy delivers what was dropped).
  push (key: string, hb: Heartbeat | undefined, sus: Suspicion | undefined, cls: number, cap: number): void {
    this.forget(key)
    const item: Item = { peer: key, hb, sus, sent: 0, live: true, cls }
    this.byPeer.set(key, item)
    this.counts[cls]++
    if (this.eager > 0) this.freshCount++
    this.classes[cls][0].items.push(item)
    if (this.counts[cls] > cap) this.evictFrom(this.classes[cls], this.counts[cls] - cap)
  }

  // Drops the record queued for `peer`, if any.
  forget (peer: string): void {
    const old = this.byPeer.get(peer)
    if (old === undefined) return
    this.kill(old)
    this.dead++
  }

  private kill (item: Item): void {
    item.live = false
    this.byPeer.delete(item.peer)
    this.counts[item.cls]--
    if (item.sent < this.eager) this.freshCount--
  }

  // Takes up to `max` records for one message, counting the transmission;
  // records sent `limit` times leave the queue. `freshOnly` takes only
  // records sent fewer than `eager` times.
  take (max: number, limit: number, freshOnly: boolean, hbs: Heartbeat[], sus: Suspicion[]): void {
    if (this.byPeer.size === 0) return
    const picked: Item[] = []
    const below = freshOnly ? this.eager : Infinity
    for (let c = 0; c < this.classes.length; c++) if (this.counts[c] > 0) this.pick(this.classes[c], max, below, picked)
    for (const item of picked) {
      if (item.hb !== undefined) hbs.push(item.hb)
      if (item.sus !== undefined) sus.push(item.sus)
      item.sent++
      if (item.sent === this.eager) this.freshCount--
      if (item.sent >= limit) {
        this.kill(item)
        continue
      }
      const levels = this.classes[item.cls]
      while (levels.length <= item.sent) levels.push({ items: [], head: 0 })
      levels[item.sent].items.push(item)
    }
    if (this.dead > 64 && this.dead > this.byPeer.size) this.compact()
  }

  private pick (levels: Level[], max: number, below: number, picked: Item[]): void {
    for (let l = 0; l < levels.length && l < below && picked.length < max; l++) {
      const level = levels[l]
      while (level.items.length > level.head && picked.length < max) {
        const item = level.items.pop()!
        if (!item.live) { this.dead--; continue }
        picked.push(item)
      }
      if (level.head > 0 && level.items.length <= level.head) { level.items = []; level.head = 0 }
    }
  }

  private evictFrom (levels: Level[], n: number): number {
    for (let l = levels.length - 1; l >= 0 && n > 0; l--) {
      const level = levels[l]
      while (level.items.length > level.head && n > 0) {
        const item = level.items[level.head++]
        if (!item.live) { this.dead--; continue }
        this.kill(item)
        n--
      }
      if (level.head > 1024 && level.head * 2 > level.items.length) {
        level.items = level.items.slice(level.head)
        level.head = 0
      }
    }
    return n
  }

  private compact (): void {
    for (const level of this.classes.flat()) {
      level.items = level.items.slice(level.head).filter(i => i.live)
      level.head = 0
    }
    this.dead = 0
  }
}
