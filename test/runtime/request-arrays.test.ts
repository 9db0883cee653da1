import { readdirSync } from 'node:fs'
import t from 'tap'
import { catalogue, type EventTypeDefinition } from '../../shared/events/catalogue.ts'
import { HEALTH_CHECKS } from '../../shared/events/types/health.ts'
import { MAX_REQUEST_NAMESPACES } from '../../shared/events/types/resources.ts'
import type { FunctionModule } from '../../shared/runtime/function.ts'

// Every array a request may carry is bounded (maxItems) and duplicate-free
// (uniqueItems): an unbounded one let 1,000 copies of one namespace cost
// 13.6 s and 8,000 objects.

const functionsDir = new URL('../../functions/', import.meta.url)
const modules: FunctionModule[] = []
for (const name of readdirSync(functionsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
  modules.push((await import(new URL(`${name}/index.ts`, functionsDir).href) as { default: FunctionModule }).default)
}

/** Paths of arrays in a schema that lack maxItems or uniqueItems. */
export function unboundedArrays(schema: unknown, path = ''): string[] {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => unboundedArrays(s, `${path}/${i}`))
  if (!schema || typeof schema !== 'object') return []
  const s = schema as Record<string, unknown>
  const out: string[] = []
  const isArray = s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array')) || 'items' in s || 'prefixItems' in s
  if (isArray && (typeof s.maxItems !== 'number' || s.uniqueItems !== true)) out.push(path || '(root)')
  for (const [key, value] of Object.entries(s)) out.push(...unboundedArrays(value, `${path}/${key}`))
  return out
}

t.test('the walker finds an unbounded array, however deep', async (t) => {
  t.same(unboundedArrays({ type: 'object', properties: { a: { type: 'array', items: { type: 'string' } } } }), ['/properties/a'])
  t.same(unboundedArrays({ type: 'object', properties: { a: { type: 'array', maxItems: 3, items: { type: 'object', properties: { b: { items: {} } } } } } }), ['/properties/a', '/properties/a/items/properties/b'])
  t.same(unboundedArrays({ anyOf: [{ type: ['array', 'null'], maxItems: 2, uniqueItems: true }] }), [])
})

t.test('every request schema bounds and deduplicates its arrays', async (t) => {
  const requests = new Map<string, EventTypeDefinition>()
  for (const d of catalogue.values()) if (d.direction === 'inbound') requests.set(d.type, d)
  for (const m of modules) for (const d of m.definition.eventTypes ?? []) if (d.direction === 'inbound') requests.set(d.type, d)
  t.ok(requests.size >= 10, `${requests.size} request types walked`)
  for (const d of requests.values()) t.same(unboundedArrays(d.schema), [], d.type)
})

t.test('a request beyond the bound or with repeats is a 400 before any work', async (t) => {
  const cleanUp = modules.find((m) => m.definition.name === 'clean-up-resources')!
  const health = modules.find((m) => m.definition.name === 'health-report')!
  const check = (m: FunctionModule, type: string, data: unknown): unknown => {
    try {
      m.validator.check(type, data)
      return 'accepted'
    } catch (err) {
      return (err as { code?: string }).code
    }
  }
  const CLEAN = 'dev.caretaker.resources.clean.requested'
  t.equal(check(cleanUp, CLEAN, { namespaces: ['a', 'b'] }), 'accepted')
  t.equal(check(cleanUp, CLEAN, { namespaces: Array.from({ length: 1000 }, () => 'default') }), 'invalid_event_data', '1,000 repeats')
  t.equal(check(cleanUp, CLEAN, { namespaces: ['a', 'a'] }), 'invalid_event_data', 'one repeat')
  t.equal(check(cleanUp, CLEAN, { namespaces: Array.from({ length: MAX_REQUEST_NAMESPACES }, (_, i) => `ns-${i}`) }), 'accepted', 'at the bound')
  t.equal(check(cleanUp, CLEAN, { namespaces: Array.from({ length: MAX_REQUEST_NAMESPACES + 1 }, (_, i) => `ns-${i}`) }), 'invalid_event_data', 'over the bound')
  const HEALTH = 'dev.caretaker.health.report.requested'
  t.equal(check(health, HEALTH, { checks: [...HEALTH_CHECKS] }), 'accepted')
  t.equal(check(health, HEALTH, { checks: [HEALTH_CHECKS[0], HEALTH_CHECKS[0]] }), 'invalid_event_data')
})
