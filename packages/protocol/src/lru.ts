// A small least-recently-used map for the caches on verification hot paths.
// Internal to this package (not re-exported).

/** A Map bounded to `max` entries that evicts the least recently used one. */
export class Lru<K, V> {
  readonly max: number
  readonly #map = new Map<K, V>()

  constructor (max: number) {
    this.max = max
  }

  /** The value under `key`, marking it most recently used. */
  get (key: K): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  /** Stores `value` under `key`, evicting the oldest entry beyond `max`. */
  set (key: K, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.max) {
      const oldest = this.#map.keys().next()
      if (oldest.done !== true) this.#map.delete(oldest.value)
    }
  }

  /** Number of entries held. */
  get size (): number {
    return this.#map.size
  }

  /** Drops every entry. */
  clear (): void {
    this.#map.clear()
  }
}
