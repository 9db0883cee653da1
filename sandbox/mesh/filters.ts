import { CaretakerError, Errors } from '../../shared/errors.ts'

/**
 * Trigger filters as Knative Eventing evaluates them: the legacy
 * `spec.filter.attributes` map and the SubscriptionsAPI `spec.filters`
 * dialects. Pure functions over an event's context attributes.
 */

export type EventAttributes = Readonly<Record<string, unknown>>

export type FilterExpression =
  | { readonly exact: Readonly<Record<string, string>> }
  | { readonly prefix: Readonly<Record<string, string>> }
  | { readonly suffix: Readonly<Record<string, string>> }
  | { readonly all: readonly FilterExpression[] }
  | { readonly any: readonly FilterExpression[] }
  | { readonly not: FilterExpression }

export interface TriggerFilter {
  /** `spec.filter.attributes`; undefined when the Trigger has none. */
  readonly attributes?: Readonly<Record<string, string>>
  /** `spec.filters`; when present (even empty) it overrides `attributes`, as the CRD says. */
  readonly filters?: readonly FilterExpression[]
}

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const

function attributeAsString(attrs: EventAttributes, name: string): string | undefined {
  const value = attrs[name]
  if (value === undefined || value === null) return undefined
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') return undefined
  return String(value)
}

/** Legacy filter: every listed attribute must exist; an empty value matches any value (Knative's TriggerAnyFilter). */
export function matchesAttributeFilter(filter: Readonly<Record<string, string>>, attrs: EventAttributes): boolean {
  for (const [name, expected] of Object.entries(filter)) {
    const actual = attributeAsString(attrs, name)
    if (actual === undefined) return false
    if (expected !== '' && actual !== expected) return false
  }
  return true
}

function everyAttribute(map: Readonly<Record<string, string>>, attrs: EventAttributes, test: (actual: string, expected: string) => boolean): boolean {
  return Object.entries(map).every(([name, expected]) => {
    const actual = attributeAsString(attrs, name)
    return actual !== undefined && test(actual, expected)
  })
}

export function matchesExpression(expression: FilterExpression, attrs: EventAttributes): boolean {
  if ('exact' in expression) return everyAttribute(expression.exact, attrs, (a, e) => a === e)
  if ('prefix' in expression) return everyAttribute(expression.prefix, attrs, (a, e) => a.startsWith(e))
  if ('suffix' in expression) return everyAttribute(expression.suffix, attrs, (a, e) => a.endsWith(e))
  if ('all' in expression) return expression.all.every((inner) => matchesExpression(inner, attrs))
  if ('any' in expression) return expression.any.some((inner) => matchesExpression(inner, attrs))
  return !matchesExpression(expression.not, attrs)
}

export function matchesTrigger(filter: TriggerFilter, attrs: EventAttributes): boolean {
  if (filter.filters !== undefined) return filter.filters.every((expression) => matchesExpression(expression, attrs))
  if (filter.attributes !== undefined) return matchesAttributeFilter(filter.attributes, attrs)
  return true
}

function invalid(where: string, message: string): CaretakerError {
  return new CaretakerError(Errors.InvalidConfig, `${where}: ${message}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A map of attribute name to string value; `allowEmptyValues` only for the legacy filter. */
export function parseAttributeMap(raw: unknown, where: string, allowEmptyValues: boolean): Record<string, string> {
  if (!isRecord(raw)) throw invalid(where, 'expected a map of attribute name to string value')
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (name === '') throw invalid(where, 'attribute names must not be empty')
    if (typeof value !== 'string') throw invalid(`${where}.${name}`, `expected a string, got ${JSON.stringify(value)}`)
    if (!allowEmptyValues && value === '') throw invalid(`${where}.${name}`, 'value must not be empty')
    out[name] = value
  }
  return out
}

function parseExpressionList(raw: unknown, where: string, requireOne: boolean): FilterExpression[] {
  if (!Array.isArray(raw)) throw invalid(where, 'expected a list of filter expressions')
  if (requireOne && raw.length === 0) throw invalid(where, 'must contain at least one filter expression')
  return raw.map((item, index) => parseFilterExpression(item, `${where}[${index}]`))
}

export function parseFilterExpression(raw: unknown, where: string): FilterExpression {
  if (!isRecord(raw)) throw invalid(where, 'expected a filter expression object')
  const dialects = Object.keys(raw)
  const unknown = dialects.filter((key) => !(DIALECTS as readonly string[]).includes(key))
  if (unknown.length > 0) throw invalid(where, `unknown filter dialect ${unknown.join(', ')}; expected one of ${DIALECTS.join(', ')}`)
  if (dialects.length !== 1) throw invalid(where, `expected exactly one dialect, got ${dialects.length === 0 ? 'none' : dialects.join(', ')}`)
  const dialect = dialects[0]!
  const value = raw[dialect]
  switch (dialect) {
    case 'exact': return { exact: parseAttributeMap(value, `${where}.exact`, false) }
    case 'prefix': return { prefix: parseAttributeMap(value, `${where}.prefix`, false) }
    case 'suffix': return { suffix: parseAttributeMap(value, `${where}.suffix`, false) }
    case 'all': return { all: parseExpressionList(value, `${where}.all`, true) }
    case 'any': return { any: parseExpressionList(value, `${where}.any`, true) }
    case 'not': return { not: parseFilterExpression(value, `${where}.not`) }
    default:
      // A silently ignored cesql filter would deliver events the author meant to exclude.
      throw invalid(`${where}.cesql`, 'CESQL filters are not supported by the local mesh; use exact, prefix, suffix, all, any or not')
  }
}

export function parseFilters(raw: unknown, where: string): FilterExpression[] {
  return parseExpressionList(raw, where, false)
}
