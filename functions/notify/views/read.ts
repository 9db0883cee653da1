import { formatDuration } from '../../../shared/duration.ts'
import type { Severity } from '../config.ts'
import type { Fact } from '../templates.ts'
import type { Views } from './index.ts'

/**
 * Readers of event data for the views that still write whole sentences in
 * TypeScript (their templates print `message.*`). Each reader answers
 * undefined (or an empty list) rather than throw, and no text built from them
 * says "undefined", "NaN" or "[object Object]".
 */

export type Data = Record<string, unknown>
export interface Input { readonly type: string; readonly subject: string | undefined; readonly time: string }
export type Body = { severity: Severity; title: string; what: string; where: string; action: string; facts: Fact[] }
export type Template = (input: Input, data: Data) => Body

export const MAX_FACTS = 8
const MAX_VALUE = 160

// Reading the data. An event may lack any field or carry the wrong type: each
// reader answers undefined (or an empty list) rather than throw, and no text
// built from them says "undefined", "NaN" or "[object Object]".

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

export function rec(v: unknown): Data {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Data : {}
}

export function recs(v: unknown): Data[] {
  return Array.isArray(v) ? v.filter((x): x is Data => x !== null && typeof x === 'object' && !Array.isArray(x)) : []
}

export function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : []
}

export function clip(text: string, max = MAX_VALUE): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** The first few of a list and how many more: `a, b, c and 4 more`. */
export function some(items: readonly string[], max = 3, separator = ', '): string {
  if (items.length <= max) return items.join(separator)
  return `${items.slice(0, max).join(separator)} and ${items.length - max} more`
}

/** `a`, `a and b`, `a, b and c`. */
export function and(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

export function sentence(text: string): string {
  const t = text.trim()
  return /[.!?:]$/.test(t) ? t : `${t}.`
}

export function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

export function bytes(n: unknown): string | undefined {
  if (num(n) === undefined) return undefined
  const b = n as number
  if (b < 1024) return `${b} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = b / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

export function age(iso: unknown, now: string): string | undefined {
  if (typeof iso !== 'string') return undefined
  const ms = Date.parse(now) - Date.parse(iso)
  return Number.isFinite(ms) ? `${formatDuration(ms)} old` : undefined
}

export function took(ms: unknown): string | undefined {
  const n = num(ms)
  return n === undefined ? undefined : formatDuration(n)
}

/** `2026-11-28 06:00 UTC`. */
export function stamp(iso: unknown): string | undefined {
  const t = typeof iso === 'string' ? Date.parse(iso) : Number.NaN
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : undefined
}

/** `in 6d 2h` or `3h ago`, from the event's time. */
export function relative(iso: unknown, now: string): string | undefined {
  const ms = (typeof iso === 'string' ? Date.parse(iso) : Number.NaN) - Date.parse(now)
  if (!Number.isFinite(ms)) return undefined
  if (Math.abs(ms) < 60_000) return 'now'
  return ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`
}

/** `2026-11-28 06:00 UTC (in 6d)`. */
export function when(iso: unknown, now: string): string | undefined {
  const s = stamp(iso)
  const r = relative(iso, now)
  return s && r ? `${s} (${r})` : s
}

/** `namespace/name`, or the name alone. */
export function nsName(d: Data): string | undefined {
  const name = str(d.name)
  const ns = str(d.namespace)
  return name ? (ns ? `${ns}/${name}` : name) : undefined
}

export function facts(pairs: Array<[string, string | number | undefined]>): Fact[] {
  return pairs
    .filter((p): p is [string, string | number] => (typeof p[1] === 'string' && p[1].length > 0) || num(p[1]) !== undefined)
    .slice(0, MAX_FACTS)
    .map(([label, value]) => ({ label, value: clip(String(value)) }))
}

export function severityOf(v: unknown): Severity | undefined {
  return v === 'critical' || v === 'warning' || v === 'info' ? v : undefined
}

/** Counts per value of a field: `{ deleted: 3, keep: 9 }`. */
export function tally(items: readonly Data[], field: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const i of items) {
    const k = str(i[field])
    if (k) out.set(k, (out.get(k) ?? 0) + 1)
  }
  return out
}


/** `Deployment production/api`. */
export function workloads(v: unknown): string[] {
  return recs(v).map((w) => [str(w.kind), nsName(w)].filter(Boolean).join(' ')).filter((s) => s.length > 0)
}

export function severityWord(v: unknown): Severity | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.toLowerCase()
  if (['critical', 'error', 'page', 'fatal', 'failed', 'unhealthy', 'down'].includes(s)) return 'critical'
  if (['warning', 'warn', 'degraded', 'expiring'].includes(s)) return 'warning'
  if (['info', 'ok', 'none', 'healthy', 'success', 'succeeded', 'notice'].includes(s)) return 'info'
  return undefined
}

/** Views whose template prints the message their TypeScript writes: `message.title`, `message.facts`, … */
export function written(templates: Record<string, Template>): Views {
  return Object.fromEntries(Object.entries(templates).map(([type, t]) => [type, (d: unknown, event: Input) => ({ message: t(event, (d ?? {}) as Data) })]))
}
