import { fileURLToPath } from 'node:url'
import t from 'tap'
import { measure, moduleOf } from '../../scripts/coverage-floor.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('files group into modules: a function, a folder of shared/ or the sandbox', async (t) => {
  t.equal(moduleOf('functions/notify/formats.ts'), 'functions/notify')
  t.equal(moduleOf('functions/verify-backup/formats/etcd.ts'), 'functions/verify-backup')
  t.equal(moduleOf('shared/runtime/server.ts'), 'shared/runtime')
  t.equal(moduleOf('shared/errors.ts'), 'shared', 'a file at the top of shared/ belongs to shared')
  t.equal(moduleOf('sandbox/mesh/broker.ts'), 'sandbox/mesh')
  t.equal(moduleOf('cli/run.ts'), 'cli')
  t.equal(moduleOf('test/harness/x.ts'), undefined, 'tests are not measured')
  t.equal(moduleOf('functions/notify/x.test.ts'), undefined)
  t.equal(moduleOf('node_modules/tap/index.js'), undefined)
})

t.test('a module sums its files line and branch counts', async (t) => {
  const file = (lines: [number, number], branches: [number, number]) => ({ lines: { total: lines[0], covered: lines[1] }, branches: { total: branches[0], covered: branches[1] } })
  const m = measure({
    total: file([0, 0], [0, 0]),
    [`${root}functions/notify/a.ts`]: file([10, 5], [4, 1]),
    [`${root}functions/notify/b.ts`]: file([30, 30], [4, 4]),
    [`${root}test/x.ts`]: file([10, 0], [2, 0]),
  })
  t.same([...m.keys()], ['functions/notify'])
  t.same(m.get('functions/notify'), { lines: { total: 40, covered: 35 }, branches: { total: 8, covered: 5 } })
})
