import t from 'tap'
import { createAjv, type FromSchema, type JsonSchema } from '../../shared/schema.ts'

// FromSchema (shared/schema.ts): the type of what a schema accepts, so a
// config or event type is written once. The assignments below compile only
// while the derived types say what ajv does; each is also validated.

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    count: { type: 'integer', default: 3 },
    mode: { enum: ['a', 'b'] },
    tags: { type: 'array', items: { type: 'string' } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    when: { type: ['string', 'null'] },
    kind: { const: 'fixed' },
    target: {
      type: 'object',
      required: ['kind'],
      properties: { kind: { enum: ['db', 'cache'] } },
      allOf: [
        { if: { properties: { kind: { const: 'db' } } }, then: { type: 'object', additionalProperties: false, required: ['kind', 'host'], properties: { kind: { const: 'db' }, host: { type: 'string' } } } },
        { if: { properties: { kind: { const: 'cache' } } }, then: { type: 'object', additionalProperties: false, required: ['kind', 'nodes'], properties: { kind: { const: 'cache' }, nodes: { type: 'array', items: { type: 'string' } } } } },
      ],
    },
  },
} as const satisfies JsonSchema

type Value = FromSchema<typeof schema>

t.test('required and defaulted fields are present, the others optional', async (t) => {
  const validate = createAjv({ useDefaults: true }).compile(schema)
  const value: Value = { name: 'x', count: 1 }
  t.ok(validate(value))
  // @ts-expect-error: name is required
  const missing: Value = { count: 1 }
  t.notOk(validate(missing))
  // @ts-expect-error: count has a default, so validation always leaves it there
  const filled: Value = { name: 'x' }
  t.ok(validate(filled))
  t.equal(filled.count, 3, 'the default the type promised')
})

t.test('enums, arrays, records, unions of types and consts', async (t) => {
  const validate = createAjv().compile(schema)
  const value: Value = { name: 'x', count: 1, mode: 'b', tags: ['t'], labels: { a: 'b' }, when: null, kind: 'fixed' }
  t.ok(validate(value))
  // @ts-expect-error: not one of the enum
  const wrongMode: Value = { name: 'x', count: 1, mode: 'c' }
  t.notOk(validate(wrongMode))
  // @ts-expect-error: additionalProperties false
  const extra: Value = { name: 'x', count: 1, other: true }
  t.notOk(validate(extra))
})

t.test('an allOf of if/then pairs is the union of the thens, told apart by the field', async (t) => {
  const validate = createAjv().compile(schema)
  const db: Value = { name: 'x', count: 1, target: { kind: 'db', host: 'h' } }
  const cache: Value = { name: 'x', count: 1, target: { kind: 'cache', nodes: ['n'] } }
  t.ok(validate(db))
  t.ok(validate(cache))
  // @ts-expect-error: a db target has a host, not nodes
  const mixed: Value = { name: 'x', count: 1, target: { kind: 'db', nodes: ['n'] } }
  t.notOk(validate(mixed))
  if (db.target?.kind === 'db') t.equal(db.target.host, 'h', 'narrowed by kind')
})
