// Peer ids interned as small integers, so that a view can be indexed by flat
// typed arrays. Each core has its own by default; the simulator shares one
// among thousands of cores (one hot table instead of one cold hash map per
// node), which changes nothing a core can observe.

import { hashPeer } from './hash.ts'

// An append-only string → integer table, with each peer's digest hash kept
// beside it (computed once per peer, not once per view). Ids are dense and
// never reused.
export class PeerIndex {
  private readonly ids = new Map<string, number>()
  private readonly names: string[] = []
  private hashes = new Uint32Array(64)

  // Number of peers interned so far.
  get size (): number {
    return this.names.length
  }

  // The id of `peer`, interning it if new.
  id (peer: string): number {
    let i = this.ids.get(peer)
    if (i === undefined) {
      i = this.names.length
      this.ids.set(peer, i)
      this.names.push(peer)
      if (i === this.hashes.length) {
        const grown = new Uint32Array(2 * i)
        grown.set(this.hashes)
        this.hashes = grown
      }
      this.hashes[i] = hashPeer(peer)
    }
    return i
  }

  // The id of `peer` if interned (queries never grow the table).
  get (peer: string): number | undefined {
    return this.ids.get(peer)
  }

  // The peer interned as `id`.
  name (id: number): string {
    return this.names[id]
  }

  // hashPeer of the peer interned as `id`.
  hash (id: number): number {
    return this.hashes[id]
  }
}
