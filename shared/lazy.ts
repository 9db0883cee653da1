/**
 * A value made on its first use and shared by every caller after: a module
 * loaded when first needed, a client made once. A failed attempt is not
 * kept, so the next call tries again (a transient failure does not stick).
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined
  return () => (made ??= make().catch((err: unknown) => {
    made = undefined
    throw err
  }))
}
