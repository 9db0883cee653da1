import type { Test } from 'tap'

/**
 * Counts the `Intl.DateTimeFormat`s made (with or without `new`) until the
 * test ends; the real class still does the work. Code that should not read
 * ICU's data into the process (the first one reads about 4.7 MiB) is checked
 * with it.
 */
export function countDateTimeFormats(t: Test): () => number {
  const Real = Intl.DateTimeFormat
  let constructed = 0
  Intl.DateTimeFormat = new Proxy(Real, {
    construct: (target, args: ConstructorParameters<typeof Real>) => { constructed++; return new target(...args) },
    apply: (target, _this, args: ConstructorParameters<typeof Real>) => { constructed++; return target(...args) },
  })
  t.teardown(() => { Intl.DateTimeFormat = Real })
  return () => constructed
}
