/**
 * Orders strings by their UTF-16 code units, as `Array.prototype.sort` does
 * without a comparator. Caretaker sorts names, namespaces and RFC 3339
 * timestamps only to make its output and its choices deterministic. For
 * Kubernetes names and timestamps (lower-case letters, digits, `-`, `.`,
 * `:`) this is the order `localeCompare` gives too
 * (test/runtime/order.test.ts), without depending on the process's locale
 * and without ICU: the first `localeCompare` reads about 1.9 MiB of ICU's
 * collation data into the process. Elsewhere (a backup file's name, which
 * may hold `_` or capitals) it only breaks ties in a fixed way.
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
