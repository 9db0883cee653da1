/**
 * Work run one at a time per key, in the order it arrived: a later call for
 * the same key starts when the earlier one has settled (whether it succeeded
 * or failed); different keys run side by side. A key with nothing pending
 * is forgotten, so the map holds only what is queued.
 */
export class KeyedSerial {
  readonly #tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve()
    const next = before.catch(() => undefined).then(work)
    this.#tails.set(key, next)
    void next.finally(() => { if (this.#tails.get(key) === next) this.#tails.delete(key) }).catch(() => undefined)
    return next
  }

  /** How many keys have work queued or running. */
  get size(): number {
    return this.#tails.size
  }
}
