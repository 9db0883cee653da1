import t from 'tap'
import { matchesTrigger, parseFilters, type TriggerFilter } from '../../sandbox/mesh/filters.ts'

const event = { specversion: '1.0', type: 'com.example.backup.failed', source: '/caretaker/backup', id: '1', subject: 'db', severity: 'high' }

const cases: { name: string; filter: TriggerFilter; matches: boolean }[] = [
  { name: 'no filter lets everything through', filter: {}, matches: true },
  { name: 'attributes: all listed equal', filter: { attributes: { type: 'com.example.backup.failed', source: '/caretaker/backup' } }, matches: true },
  { name: 'attributes: one differs', filter: { attributes: { type: 'com.example.backup.failed', source: '/other' } }, matches: false },
  { name: 'attributes: empty value matches any value', filter: { attributes: { subject: '' } }, matches: true },
  { name: 'attributes: empty value still needs the attribute', filter: { attributes: { dataschema: '' } }, matches: false },
  { name: 'attributes: extension compared too', filter: { attributes: { severity: 'low' } }, matches: false },
  { name: 'attributes: case-sensitive', filter: { attributes: { type: 'COM.example.backup.failed' } }, matches: false },
  { name: 'filters: empty list is true', filter: { filters: [] }, matches: true },
  { name: 'exact matches', filter: { filters: [{ exact: { type: 'com.example.backup.failed' } }] }, matches: true },
  { name: 'exact is not prefix', filter: { filters: [{ exact: { type: 'com.example.backup' } }] }, matches: false },
  { name: 'exact on a missing attribute', filter: { filters: [{ exact: { missing: 'x' } }] }, matches: false },
  { name: 'prefix matches', filter: { filters: [{ prefix: { type: 'com.example.' } }] }, matches: true },
  { name: 'prefix differs', filter: { filters: [{ prefix: { type: 'dev.knative.' } }] }, matches: false },
  { name: 'suffix matches', filter: { filters: [{ suffix: { type: '.failed' } }] }, matches: true },
  { name: 'suffix differs', filter: { filters: [{ suffix: { type: '.verified' } }] }, matches: false },
  { name: 'every expression of the list must hold', filter: { filters: [{ prefix: { type: 'com.' } }, { exact: { subject: 'other' } }] }, matches: false },
  { name: 'all: every nested true', filter: { filters: [{ all: [{ prefix: { type: 'com.' } }, { suffix: { type: 'failed' } }] }] }, matches: true },
  { name: 'all: one nested false', filter: { filters: [{ all: [{ prefix: { type: 'com.' } }, { suffix: { type: 'ok' } }] }] }, matches: false },
  { name: 'any: one nested true', filter: { filters: [{ any: [{ exact: { subject: 'x' } }, { exact: { subject: 'db' } }] }] }, matches: true },
  { name: 'any: none true', filter: { filters: [{ any: [{ exact: { subject: 'x' } }, { exact: { subject: 'y' } }] }] }, matches: false },
  { name: 'not inverts', filter: { filters: [{ not: { exact: { severity: 'low' } } }] }, matches: true },
  { name: 'not of a match', filter: { filters: [{ not: { exact: { severity: 'high' } } }] }, matches: false },
  {
    name: 'nested all/any/not',
    filter: { filters: [{ all: [{ any: [{ prefix: { type: 'dev.' } }, { not: { suffix: { type: '.verified' } } }] }, { not: { any: [{ exact: { subject: 'cache' } }] } }] }] },
    matches: true,
  },
  { name: 'filters override attributes', filter: { attributes: { type: 'never' }, filters: [{ exact: { subject: 'db' } }] }, matches: true },
  { name: 'filters override attributes (negative)', filter: { attributes: { type: 'com.example.backup.failed' }, filters: [{ exact: { subject: 'x' } }] }, matches: false },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(matchesTrigger(c.filter, event), c.matches)
  })
}

const invalidFilters: { name: string; raw: unknown; message: RegExp }[] = [
  { name: 'cesql is rejected', raw: [{ cesql: "type = 'x'" }], message: /filters\[0\]\.cesql: CESQL filters are not supported/ },
  { name: 'unknown dialect', raw: [{ regex: { type: 'x' } }], message: /unknown filter dialect regex/ },
  { name: 'two dialects in one expression', raw: [{ exact: { type: 'a' }, prefix: { type: 'b' } }], message: /exactly one dialect/ },
  { name: 'empty exact value', raw: [{ exact: { type: '' } }], message: /filters\[0\]\.exact\.type: value must not be empty/ },
  { name: 'empty all', raw: [{ all: [] }], message: /filters\[0\]\.all: must contain at least one/ },
  { name: 'nested error path', raw: [{ any: [{ not: { prefix: { type: 3 } } }] }], message: /filters\[0\]\.any\[0\]\.not\.prefix\.type: expected a string/ },
  { name: 'not a list', raw: { exact: { type: 'a' } }, message: /expected a list/ },
]

for (const c of invalidFilters) {
  t.test(c.name, async (t) => {
    t.throws(() => parseFilters(c.raw, 'filters'), { name: 'CaretakerError', code: 'invalid_config', message: c.message })
  })
}
