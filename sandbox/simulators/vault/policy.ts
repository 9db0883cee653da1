import { badRequest, isObject } from './common.ts'

export const CAPABILITIES = ['create', 'read', 'update', 'patch', 'delete', 'list', 'deny', 'sudo'] as const
export type Capability = (typeof CAPABILITIES)[number]

export interface PathRule {
  pattern: string
  capabilities: Set<Capability>
}

// ---------------------------------------------------------------------------
// The HCL people write in Vault policies: blocks, attributes, strings, lists,
// numbers, booleans and nested objects (allowed_parameters = { ... }).

type HclValue = string | number | boolean | HclValue[] | HclBody
interface HclBody {
  attributes: Map<string, HclValue>
  blocks: { type: string; labels: string[]; body: HclBody }[]
}

interface Token {
  kind: 'str' | 'ident' | 'num' | 'punct'
  text: string
  offset: number
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2)
      if (end < 0) throw badRequest('failed to parse policy: unterminated comment')
      i = end + 2
    } else if (c === '"') {
      let j = i + 1
      let text = ''
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) {
          const n = src[j + 1]!
          text += n === 'n' ? '\n' : n === 't' ? '\t' : n
          j += 2
        } else text += src[j++]
      }
      if (j >= src.length) throw badRequest('failed to parse policy: unterminated string')
      tokens.push({ kind: 'str', text, offset: i })
      i = j + 1
    } else if ('{}[]=,:'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, offset: i })
      i++
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(src.slice(i))
      if (!m) throw badRequest(`failed to parse policy: unexpected "${c}" at ${i}`)
      tokens.push({ kind: 'num', text: m[0], offset: i })
      i += m[0].length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!
      tokens.push({ kind: 'ident', text: m[0], offset: i })
      i += m[0].length
    } else {
      throw badRequest(`failed to parse policy: unexpected "${c}" at ${i}`)
    }
  }
  return tokens
}

class HclParser {
  readonly #tokens: Token[]
  #pos = 0
  constructor(src: string) {
    this.#tokens = tokenize(src)
  }

  parse(): HclBody {
    const body = this.#body(null)
    return body
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#pos]
  }
  #next(): Token {
    const t = this.#tokens[this.#pos++]
    if (!t) throw badRequest('failed to parse policy: unexpected end of input')
    return t
  }
  #expect(text: string): void {
    const t = this.#next()
    if (t.text !== text || (t.kind !== 'punct')) {
      throw badRequest(`failed to parse policy: expected "${text}" at ${t.offset}, got "${t.text}"`)
    }
  }

  #body(close: string | null): HclBody {
    const body: HclBody = { attributes: new Map(), blocks: [] }
    for (;;) {
      const t = this.#peek()
      if (!t) {
        if (close) throw badRequest('failed to parse policy: unexpected end of input')
        return body
      }
      if (close && t.kind === 'punct' && t.text === close) {
        this.#pos++
        return body
      }
      if (t.kind === 'punct' && t.text === ',') {
        this.#pos++
        continue
      }
      if (t.kind !== 'ident' && t.kind !== 'str') {
        throw badRequest(`failed to parse policy: unexpected "${t.text}" at ${t.offset}`)
      }
      this.#pos++
      const after = this.#peek()
      if (after?.kind === 'punct' && (after.text === '=' || after.text === ':')) {
        this.#pos++
        body.attributes.set(t.text, this.#value())
        continue
      }
      const labels: string[] = []
      while (this.#peek()?.kind === 'str') labels.push(this.#next().text)
      this.#expect('{')
      body.blocks.push({ type: t.text, labels, body: this.#body('}') })
    }
  }

  #value(): HclValue {
    const t = this.#next()
    if (t.kind === 'str') return t.text
    if (t.kind === 'num') return Number(t.text)
    if (t.kind === 'ident') {
      if (t.text === 'true') return true
      if (t.text === 'false') return false
      throw badRequest(`failed to parse policy: unexpected "${t.text}" at ${t.offset}`)
    }
    if (t.text === '[') {
      const items: HclValue[] = []
      for (;;) {
        const p = this.#peek()
        if (p?.kind === 'punct' && p.text === ']') {
          this.#pos++
          return items
        }
        if (p?.kind === 'punct' && p.text === ',') {
          this.#pos++
          continue
        }
        items.push(this.#value())
      }
    }
    if (t.text === '{') return this.#body('}')
    throw badRequest(`failed to parse policy: unexpected "${t.text}" at ${t.offset}`)
  }
}

/** The old `policy = "read"` shorthand, as Vault expands it. */
const LEGACY: Record<string, Capability[]> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
}

function toCapabilities(pattern: string, caps: unknown, legacy: unknown): Set<Capability> {
  const out = new Set<Capability>()
  if (caps !== undefined) {
    if (!Array.isArray(caps)) throw badRequest(`failed to parse policy: capabilities of path "${pattern}" must be a list`)
    for (const c of caps) {
      if (typeof c !== 'string' || !(CAPABILITIES as readonly string[]).includes(c)) {
        throw badRequest(`failed to parse policy: path "${pattern}": invalid capability "${String(c)}"`)
      }
      out.add(c as Capability)
    }
  }
  if (legacy !== undefined) {
    const expanded = typeof legacy === 'string' ? LEGACY[legacy] : undefined
    if (!expanded) throw badRequest(`failed to parse policy: path "${pattern}": invalid policy "${String(legacy)}"`)
    for (const c of expanded) out.add(c)
  }
  return out
}

/** Parses a policy document, HCL or JSON, into its path rules. */
export function parsePolicy(text: string): PathRule[] {
  const trimmed = text.trim()
  const rules: PathRule[] = []
  if (trimmed.startsWith('{')) {
    let doc: unknown
    try {
      doc = JSON.parse(trimmed)
    } catch (err) {
      throw badRequest(`failed to parse policy: ${(err as Error).message}`)
    }
    const paths = isObject(doc) ? doc['path'] : undefined
    if (!isObject(paths)) return rules
    for (const [pattern, rule] of Object.entries(paths)) {
      const r = isObject(rule) ? rule : {}
      rules.push({ pattern, capabilities: toCapabilities(pattern, r['capabilities'], r['policy']) })
    }
    return rules
  }
  const body = new HclParser(text).parse()
  for (const block of body.blocks) {
    if (block.type !== 'path') continue
    const pattern = block.labels[0]
    if (pattern === undefined) throw badRequest('failed to parse policy: path block without a path')
    rules.push({
      pattern,
      capabilities: toCapabilities(pattern, block.body.attributes.get('capabilities'), block.body.attributes.get('policy')),
    })
  }
  return rules
}

// ---------------------------------------------------------------------------
// Evaluation, following Vault's rules: an exact path wins over globs; among
// globs and `+` segments the most specific wins; rules for the same pattern
// in several policies are merged; deny overrides everything else.

function patternRegex(pattern: string): RegExp {
  const glob = pattern.endsWith('*')
  const body = glob ? pattern.slice(0, -1) : pattern
  const src = body
    .split('/')
    .map((seg) => (seg === '+' ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${src}${glob ? '.*' : ''}$`)
}

function firstWildcard(p: string): number {
  const plus = p.split('/').findIndex((s) => s === '+')
  const plusAt = plus < 0 ? Infinity : p.split('/').slice(0, plus).join('/').length
  const star = p.endsWith('*') ? p.length - 1 : Infinity
  return Math.min(plusAt, star)
}

/** true when a has lower priority than b (Vault's documented order). */
function lower(a: string, b: string): boolean {
  const wa = firstWildcard(a)
  const wb = firstWildcard(b)
  if (wa !== wb) return wa < wb
  const ga = a.endsWith('*')
  const gb = b.endsWith('*')
  if (ga !== gb) return ga
  const pa = a.split('/').filter((s) => s === '+').length
  const pb = b.split('/').filter((s) => s === '+').length
  if (pa !== pb) return pa > pb
  if (a.length !== b.length) return a.length < b.length
  return a < b
}

export class PolicyCache {
  readonly #parsed = new Map<string, PathRule[]>()

  rules(text: string): PathRule[] {
    let r = this.#parsed.get(text)
    if (!r) {
      r = parsePolicy(text)
      this.#parsed.set(text, r)
    }
    return r
  }

  /** The capabilities the named policies grant on a request path. */
  capabilities(policyTexts: string[], path: string): Set<Capability> {
    const merged = new Map<string, Set<Capability>>()
    for (const text of policyTexts) {
      for (const rule of this.rules(text)) {
        if (!patternRegex(rule.pattern).test(path)) continue
        const caps = merged.get(rule.pattern) ?? new Set<Capability>()
        for (const c of rule.capabilities) caps.add(c)
        merged.set(rule.pattern, caps)
      }
    }
    let best: string | undefined
    for (const pattern of merged.keys()) {
      if (best === undefined || lower(best, pattern)) best = pattern
    }
    const caps = best === undefined ? new Set<Capability>() : merged.get(best)!
    return caps.has('deny') ? new Set<Capability>(['deny']) : caps
  }
}
