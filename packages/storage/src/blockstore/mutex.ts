// Serialising operations on one key (or on one counter) within one store object.
// Browser-safe.

/** Runs functions one at a time per key, in call order; different keys run concurrently. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>()

  /** Run `fn` once every earlier call for `key` has settled; resolves or rejects as `fn` does. */
  run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve()
    const result = before.then(fn, fn)
    const tail = result.then(() => {}, () => {})
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }
}
