import { getCompileCacheDir } from 'node:module'

/**
 * What a Node child process of ours inherits besides what its caller gives
 * it: the compile cache this process uses (NODE_COMPILE_CACHE, set by
 * `npm start` and the `caretaker` command), so a function process does not
 * compile, and strip the types of, the same modules again (it halves a
 * function's start from its TypeScript sources). `npm test` runs without
 * one: a function read from the cache has no block-level coverage.
 */
export function nodeChildEnv(): Record<string, string> {
  const dir = getCompileCacheDir()
  return dir ? { NODE_COMPILE_CACHE: dir } : {}
}
