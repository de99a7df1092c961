// The simulator's agenda: a binary min-heap ordered by (time, insertion
// order). Equal times pop in the order they were pushed, which is what makes
// a run reproducible without depending on the heap's internal layout.

// An entry in the queue; `seq` is assigned by the queue on push.
export interface Scheduled {
  at: number
  seq: number
}

// A binary min-heap of scheduled items keyed by (at, seq).
export class EventQueue<T extends Scheduled> {
  private readonly heap: T[] = []
  private counter = 0

  // Number of items waiting.
  get size (): number {
    return this.heap.length
  }

  // Adds an item; its `seq` is overwritten with the next insertion number.
  push (item: T): void {
    item.seq = this.counter++
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(item, h[p])) break
      h[i] = h[p]
      i = p
    }
    h[i] = item
  }

  // The earliest item without removing it.
  peek (): T | undefined {
    return this.heap[0]
  }

  // Removes and returns the earliest item.
  pop (): T | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(h[r], h[l]) ? r : l
        if (!less(h[c], last)) break
        h[i] = h[c]
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function less (a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
