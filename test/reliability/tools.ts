import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** A seeded random integer below `n` (a linear congruential generator): the same run every time. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed
  return (n) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state % n
  }
}

/** The heap in use after two full collections: what is still referenced, not garbage waiting for V8. */
export function liveHeap(): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
