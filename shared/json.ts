/**
 * JSON from outside, read without recursion. `JSON.parse` itself copes with
 * deep nesting, but everything after it that walks the value recursively
 * (`JSON.stringify`, ajv, structuredClone, a logger) throws a RangeError
 * somewhere between 2,000 and 10,000 levels, and that error escapes to the
 * process. So the depth is measured on the text first, in one linear scan,
 * and a document deeper than the reader allows is refused before parsing.
 */

import { CaretakerError, Errors } from './errors.ts'

/**
 * Thrown by {@link parseJsonBounded} (Errors.JsonTooDeep); callers map it
 * onto their 4xx. The subclass stays only while callers test it with
 * `instanceof`; `isCaretakerError(err, Errors.JsonTooDeep)` is the test.
 */
export class JsonTooDeepError extends CaretakerError {
  readonly limit: number
  constructor(limit: number) {
    super(Errors.JsonTooDeep, `JSON nests deeper than ${limit} levels`)
    this.name = 'JsonTooDeepError'
    this.limit = limit
  }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

/** Index just past the string literal that opens at `start` (a quote). */
function skipString(text: string, start: number): number {
  let i = start + 1
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === BACKSLASH) i += 2
    else if (c === QUOTE) return i + 1
    else i++
  }
  return i
}

/** Whether brackets nest deeper than `limit` anywhere in `text` (strings are skipped). */
export function jsonNestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = skipString(text, i)
      continue
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > limit) return true
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--
    i++
  }
  return false
}

/** `JSON.parse`, refusing documents nested deeper than `maxDepth` (JsonTooDeepError) before parsing them. */
export function parseJsonBounded(text: string, maxDepth: number): unknown {
  if (jsonNestsDeeperThan(text, maxDepth)) throw new JsonTooDeepError(maxDepth)
  return JSON.parse(text) as unknown
}

/**
 * The members of a JSON object document, each value as its exact source
 * text (what a streaming reader's "skip and return bytes" gives). The text
 * must already be known to be a valid JSON object. A repeated name keeps its
 * last value, as JSON.parse does.
 */
export function topLevelMembers(text: string): Map<string, string> {
  const members = new Map<string, string>()
  let i = text.indexOf('{') + 1
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++
  }
  for (;;) {
    skipSpace()
    if (i >= text.length || text.charCodeAt(i) === CLOSE_OBJECT) return members
    if (text.charCodeAt(i) === 0x2c) { // ','
      i++
      continue
    }
    const keyEnd = skipString(text, i)
    const name = JSON.parse(text.slice(i, keyEnd)) as string
    i = keyEnd
    skipSpace()
    i++ // ':'
    skipSpace()
    const start = i
    let depth = 0
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === QUOTE) {
        i = skipString(text, i)
        if (depth === 0) break
        continue
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++
      else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (depth === 0) break
        depth--
        if (depth === 0) {
          i++
          break
        }
      } else if (depth === 0 && (c === 0x2c || /\s/.test(text[i]!))) break
      i++
    }
    members.set(name, text.slice(start, i))
  }
}
