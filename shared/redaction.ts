import { pino, type Logger } from 'pino'

/**
 * Log redaction compiled once, for pino's hot path.
 *
 * pino 10 redacts with @pinojs/redact, which parses every one of its paths
 * again on each call and is called for every top-level value of every line
 * and every child logger's bindings, strings and numbers included, as soon as
 * one path starts with a wildcard (`*.password`). Measured in the runtime's
 * event path that was the largest cost after the socket write (bench/
 * RESULTS.md, "runtime, asynchronous logging"). Here the same paths are
 * parsed once into a tree, a primitive is serialized at once, and an object
 * is walked only along the tree and copied only where something is censored.
 *
 * The censoring is pino's, rule for rule (pino lib/redaction.js and
 * @pinojs/redact), and test/runtime/redaction.test.ts compares the two on
 * generated lines and bindings:
 * - a path of one segment censors that top-level key whatever its value;
 * - a longer path censors its last key only where it is the object's own
 *   property; a missing path is not added;
 * - a wildcard matches every own key of an object and every index of an
 *   array; a literal segment also gets every wildcard path of its level
 *   (`*.value` applies under `headers` as under any other key).
 *
 * It is installed over pino's own stringifiers (installCompiledRedaction),
 * which stay configured with the same paths: should pino stop reading the
 * stringifiers from where they are replaced, its own redaction still runs.
 */

interface Node {
  /** The value at this path is replaced by the censor. */
  censor: boolean
  /** Literal keys, each already merged with the wildcard's subtree. */
  keys: Map<string, Node>
  /** What every other own key (and array index) gets, if a wildcard is here. */
  any: Node | undefined
}

const EMPTY: Node = { censor: false, keys: new Map(), any: undefined }

/** A path's segments as pino reads them: dots, and brackets with optional quotes (pino lib/redaction.js rx). */
export function pathSegments(path: string): string[] {
  const rx = /[^.[\]]+|\[([^[\]]*?)\]/g
  const out: string[] = []
  for (let m = rx.exec(path); m !== null; m = rx.exec(path)) {
    out.push(m[1] !== undefined ? m[1].replace(/^(?:"|'|`)(.*)(?:"|'|`)$/, '$1') : m[0])
  }
  return out
}

interface RawNode { censor: boolean; keys: Map<string, RawNode>; any: RawNode | undefined }

function rawTree(paths: readonly string[][]): RawNode {
  const root: RawNode = { censor: false, keys: new Map(), any: undefined }
  for (const segments of paths) {
    let node = root
    for (const s of segments) {
      const next: RawNode | undefined = s === '*' ? node.any : node.keys.get(s)
      const child: RawNode = next ?? { censor: false, keys: new Map(), any: undefined }
      if (!next) {
        if (s === '*') node.any = child
        else node.keys.set(s, child)
      }
      node = child
    }
    node.censor = true
  }
  return root
}

/**
 * One node for a key matched by several raw subtrees (its literal one and the
 * wildcard's). The same set of subtrees recurs under every literal key of a
 * level, so each set is merged once (`merged`, by the subtrees' identities).
 */
function merge(parts: readonly RawNode[], merged: Map<string, Node>, ids: Map<RawNode, number>): Node {
  if (parts.length === 0) return EMPTY
  const id = (n: RawNode): number => {
    let v = ids.get(n)
    if (v === undefined) ids.set(n, v = ids.size)
    return v
  }
  const key = [...new Set(parts.map(id))].sort((a, b) => a - b).join(',')
  const known = merged.get(key)
  if (known) return known
  const literal = new Set<string>()
  for (const p of parts) for (const k of p.keys.keys()) literal.add(k)
  const anyParts = parts.flatMap((p) => (p.any ? [p.any] : []))
  const keys = new Map<string, Node>()
  for (const k of literal) keys.set(k, merge([...parts.flatMap((p) => { const c = p.keys.get(k); return c ? [c] : [] }), ...anyParts], merged, ids))
  const node: Node = { censor: parts.some((p) => p.censor), keys, any: anyParts.length > 0 ? merge(anyParts, merged, ids) : undefined }
  merged.set(key, node)
  return node
}

const own = Object.prototype.hasOwnProperty

/** A shallow copy that serializes as the original does (same prototype, so the same toJSON). */
function copyOf(v: object): Record<string, unknown> {
  if (Array.isArray(v)) return v.slice() as unknown as Record<string, unknown>
  return Object.assign(Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>, v)
}

/** `value` with what `node` censors replaced; the original is never changed, and is returned as it is when nothing is censored. */
function redactValue(value: unknown, node: Node, censor: string): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value
  const v = value as Record<string, unknown>
  let out: Record<string, unknown> | undefined
  const put = (k: string, next: unknown): void => {
    if (next === v[k]) return
    out ??= copyOf(v)
    out[k] = next
  }
  if (node.any) {
    // Every own key (and index) is matched: by its literal subtree if it has one, else by the wildcard's.
    for (const k of Object.keys(v)) {
      const child = node.keys.get(k) ?? node.any
      put(k, child.censor ? censor : redactValue(v[k], child, censor))
    }
  } else {
    for (const [k, child] of node.keys) {
      if (child.censor) {
        // Only an own property is censored; a missing one is not added.
        if (own.call(v, k)) put(k, censor)
      } else if (k in v) {
        put(k, redactValue(v[k], child, censor))
      }
    }
  }
  return out ?? v
}

type Stringifier = (value: unknown, stringifySafe?: (v: unknown) => string) => string | undefined

/** pino's stringify (lib/tools.js): JSON, then its safe stringify for what JSON cannot serialize (circular, BigInt). */
function serialize(value: unknown, stringifySafe?: (v: unknown) => string): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    if (!stringifySafe) return '"[unable to serialize, circular reference is too complex to analyze]"'
    try {
      return stringifySafe(value)
    } catch {
      return '"[unable to serialize, circular reference is too complex to analyze]"'
    }
  }
}

export interface CompiledRedaction {
  /** Top-level key → its stringifier (censored keys, and keys with paths of their own). */
  readonly byKey: ReadonlyMap<string, Stringifier>
  /** Every other top-level key, when a path starts with a wildcard. */
  readonly other: Stringifier | undefined
  /** Objects interpolated into a message (`%j`, `%o`). */
  readonly format: Stringifier
  /** The redacted copy of a whole object (what the other three serialize), for tests and callers without pino. */
  readonly redact: (value: unknown) => unknown
}

export function compileRedaction(paths: readonly string[], censor: string): CompiledRedaction {
  const raw = rawTree(paths.map(pathSegments))
  const root = merge([raw], new Map(), new Map())
  const censored = JSON.stringify(censor)
  const stringifier = (node: Node): Stringifier => {
    if (node.censor) return () => censored
    return (value, stringifySafe) => serialize(redactValue(value, node, censor), stringifySafe)
  }
  const byKey = new Map<string, Stringifier>()
  for (const [k, node] of root.keys) byKey.set(k, stringifier(node))
  return {
    byKey,
    other: root.any ? stringifier(root.any) : undefined,
    format: (value, stringifySafe) => serialize(redactValue(value, root, censor), stringifySafe),
    redact: (value) => redactValue(value, root, censor),
  }
}

/**
 * Put the compiled redaction in place of pino's own on a root logger made
 * with `redact: { paths, censor }` (the same paths and censor). Child loggers
 * inherit it. pino.symbols is pino's public list of its internal keys.
 */
export function installCompiledRedaction(logger: Logger, compiled: CompiledRedaction): Logger {
  const { stringifiersSym, formatOptsSym, wildcardFirstSym, redactFmtSym } = pino.symbols
  const target = logger as unknown as Record<symbol, unknown>
  const stringifiers = target[stringifiersSym] as Record<string | symbol, Stringifier> | undefined
  const formatOpts = target[formatOptsSym] as { stringify?: Stringifier } | undefined
  // Not the shape this was written against (another pino): keep pino's own redaction.
  if (!stringifiers || !formatOpts || typeof stringifiers[wildcardFirstSym] !== 'function' || typeof stringifiers[redactFmtSym] !== 'function') return logger
  // Only keys pino has a stringifier for: the same top-level keys, so nothing falls through unredacted.
  if ([...compiled.byKey.keys()].some((k) => typeof stringifiers[k] !== 'function') || !compiled.other) return logger
  for (const [k, fn] of compiled.byKey) stringifiers[k] = fn
  stringifiers[wildcardFirstSym] = compiled.other
  stringifiers[redactFmtSym] = compiled.format
  formatOpts.stringify = compiled.format
  return logger
}
