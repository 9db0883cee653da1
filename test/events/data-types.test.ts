import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DATA_DIR, generateEventDataTypes, typeText } from '../../scripts/event-data-types.ts'
import { conform } from '../../shared/events/conform.ts'

// The data types of shared/events/data/ are the catalogue's schemas as
// TypeScript: one definition, the schema; the files follow it.

t.test('shared/events/data/ is what the catalogue\'s schemas give (else: node scripts/event-data-types.ts)', async (t) => {
  const expected = generateEventDataTypes()
  t.same(readdirSync(DATA_DIR).sort(), [...expected.keys()].sort(), 'one file per family, and the index')
  for (const [file, text] of expected) t.equal(readFileSync(join(DATA_DIR, file), 'utf8'), text, file)
})

t.test('schema to type', async (t) => {
  t.equal(typeText({ type: 'object', required: ['a'], properties: { a: { type: 'integer' }, 'b-c': { enum: ['x', 'y'] } } }), "{\n  readonly a: number\n  readonly 'b-c'?: 'x' | 'y'\n}")
  t.equal(typeText({ type: 'array', items: { type: 'string' } }), 'readonly string[]')
  t.equal(typeText({ type: ['string', 'null'] }), 'string | null')
  t.equal(typeText({ type: 'object', additionalProperties: { type: 'integer' } }), 'Record<string, number>')
  t.equal(typeText({ oneOf: [{ type: 'string' }, { type: 'integer' }] }), 'string | number')
  t.equal(typeText({ type: 'object', properties: { a: { type: 'string' } }, anyOf: [{ required: ['a'] }] }), '{\n  readonly a?: string\n}')
  t.equal(typeText({}), 'unknown')
})

t.test('conform keeps what has the schema\'s shape and drops the rest', async (t) => {
  const schema = {
    type: 'object', required: ['set'],
    properties: {
      set: { type: 'string' }, size: { type: 'integer' }, ok: { type: 'boolean' }, state: { enum: ['a', 'b'] },
      checks: { type: 'array', items: { type: 'object', properties: { check: { type: 'string' }, ms: { type: 'number' } } } },
      counts: { type: 'object', additionalProperties: { type: 'integer' } },
    },
  }
  t.same(conform(schema, { set: 'redis', size: 3, ok: true, state: 'a', checks: [{ check: 'age', ms: 1.5 }], counts: { x: 1 }, extra: [1] }),
    { set: 'redis', size: 3, ok: true, state: 'a', checks: [{ check: 'age', ms: 1.5 }], counts: { x: 1 }, extra: [1] }, 'valid data as it is')
  t.same(conform(schema, { set: '', size: 1.5, ok: 'yes', state: 'c', checks: [null, 1, { check: 5, ms: 'x' }], counts: { x: 'many', y: 2 } }),
    { checks: [{}], counts: { y: 2 } }, 'wrong types, empty strings, unknown enum values and bad items dropped')
  t.equal(conform(schema, 'text'), undefined)
  t.equal(conform(schema, [1]), undefined)
  t.equal(conform({ const: 'x' }, 'y'), undefined)
  t.same(conform({ oneOf: [{ type: 'integer' }, { type: 'string' }] }, 'a'), 'a')
  t.equal(conform({ type: 'number' }, Number.NaN), undefined)
  t.same(conform({}, { any: 'thing' }), { any: 'thing' }, 'no schema: as it is')
})
