import type { NameTimestamp } from './config.ts'

/**
 * The time in a backup's file name. A name survives a copy, an rsync
 * without `-t` or a restore from object storage; a modification time does
 * not. See NameTimestamp for the formats.
 */

interface Fields {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  /** Minutes east of UTC the name states itself (`Z`, `+01:00`), when it does. */
  offsetMinutes?: number
}

interface CompiledFormat {
  readonly source: string
  readonly regex: RegExp
  fields(groups: Record<string, string | undefined>): Fields | number | undefined
}

const TOKENS: Record<string, string> = { YYYY: 'y', MM: 'mo', DD: 'd', HH: 'h', mm: 'mi', ss: 's' }
const TOKEN_RE = /YYYY|MM|DD|HH|mm|ss/y

function escape(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const num = (v: string | undefined, fallback = 0) => (v === undefined ? fallback : Number(v))

function fromGroups(g: Record<string, string | undefined>): Fields {
  return { year: num(g.y), month: num(g.mo), day: num(g.d), hour: num(g.h), minute: num(g.mi), second: num(g.s) }
}

/** A token pattern, or why it is not one. */
function compilePattern(format: string): CompiledFormat | string {
  let regex = ''
  let depth = 0
  const seen = new Set<string>()
  for (let i = 0; i < format.length;) {
    TOKEN_RE.lastIndex = i
    const token = TOKEN_RE.exec(format)?.[0]
    if (token) {
      const group = TOKENS[token]!
      if (seen.has(group)) return `${token} appears twice`
      seen.add(group)
      regex += `(?<${group}>\\d{${token.length}})`
      i += token.length
      continue
    }
    const ch = format[i]!
    if (ch === '[') {
      depth++
      regex += '(?:'
    } else if (ch === ']') {
      if (--depth < 0) return 'a "]" without its "["'
      regex += ')?'
    } else if (/[A-Za-z]/.test(ch) && ch !== 'T') {
      return `"${ch}" at ${i} is neither a token (YYYY MM DD HH mm ss) nor the separator T`
    } else if (/\d/.test(ch)) {
      return `a digit ("${ch}" at ${i}) cannot be a separator`
    } else {
      regex += escape(ch)
    }
    i++
  }
  if (depth !== 0) return 'a "[" without its "]"'
  for (const needed of ['YYYY', 'MM', 'DD']) if (!seen.has(TOKENS[needed]!)) return `it needs ${needed} (or use unix or iso8601)`
  if (seen.has('mi') && !seen.has('h')) return 'mm (minutes) without HH'
  if (seen.has('s') && !seen.has('mi')) return 'ss without mm'
  return { source: format, regex: new RegExp(`(?<!\\d)${regex}(?!\\d)`, 'g'), fields: fromGroups }
}

const UNIX: CompiledFormat = {
  source: 'unix',
  // k3s names its snapshots `<name>-<node>-<time.Now().Unix()>` (k3s-io/k3s pkg/etcd/snapshot.go): 10 digits until 2286.
  regex: /(?<!\d)(?<unix>\d{10})(?!\d)/g,
  fields: (g) => Number(g.unix) * 1000,
}

const ISO8601: CompiledFormat = {
  source: 'iso8601',
  regex: /(?<!\d)(?<y>\d{4})(?<sep>-?)(?<mo>\d{2})\k<sep>(?<d>\d{2})T(?<h>\d{2})(?<c>:?)(?<mi>\d{2})(?:\k<c>(?<s>\d{2})(?:[.,]\d+)?)?(?<z>Z|[+-]\d{2}:?\d{2})?(?!\d)/g,
  fields: (g) => {
    const fields = fromGroups(g)
    const z = g.z
    if (z === 'Z') return { ...fields, offsetMinutes: 0 }
    if (z) {
      const m = /^([+-])(\d{2}):?(\d{2})$/.exec(z)!
      return { ...fields, offsetMinutes: (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) }
    }
    return fields
  },
}

function compile(format: string): CompiledFormat | string {
  if (format === 'unix') return UNIX
  if (format === 'iso8601') return ISO8601
  return compilePattern(format)
}

/** Why `format` is not a timestamp format, or undefined when it is one. */
export function timestampFormatProblem(format: string): string | undefined {
  const compiled = compile(format)
  return typeof compiled === 'string' ? `"${format}" is not a timestamp format: ${compiled}` : undefined
}

/** The instant of `f`, or undefined when a field is out of range (month 13, 31 February, hour 24). */
function instant(f: Fields, zone: NameTimestamp['zone']): number | undefined {
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.hour > 23 || f.minute > 59 || f.second > 59) return undefined
  const local = zone === 'local' && f.offsetMinutes === undefined
  const d = local ? new Date(f.year, f.month - 1, f.day, f.hour, f.minute, f.second) : new Date(Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second))
  // Round trip: Date rolls 31 February over into March, a local time in a DST gap over the gap.
  const back = local
    ? [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()]
    : [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
  if (back.join() !== [f.year, f.month, f.day, f.hour, f.minute, f.second].join()) return undefined
  return d.getTime() - (f.offsetMinutes ?? 0) * 60_000
}

export type NameTime = { time: Date; format: string } | { time?: undefined; note: string }

/** Reads names by a set's `timestamp`. */
export function nameTimeReader(timestamp: NameTimestamp): (name: string) => NameTime {
  const formats = timestamp.formats.map((f) => {
    const compiled = compile(f)
    if (typeof compiled === 'string') throw new Error(`timestamp format "${f}": ${compiled}`)
    return compiled
  })
  return (name) => {
    for (const format of formats) {
      // The last occurrence: a node or host name comes before the time in every runbook's names.
      const matches = [...name.matchAll(new RegExp(format.regex))].reverse()
      for (const m of matches) {
        const fields = format.fields(m.groups ?? {})
        const at = typeof fields === 'number' ? fields : fields && instant(fields, timestamp.zone)
        if (at !== undefined) return { time: new Date(at), format: format.source }
      }
    }
    return { note: `the name has no timestamp in ${timestamp.formats.map((f) => `"${f}"`).join(' or ')}` }
  }
}
