import { readFile } from 'node:fs/promises'
import t from 'tap'
import { catalogue } from '../shared/events/catalogue.ts'
import { Errors } from '../shared/errors.ts'

// The README is the user's reference: it must not fall behind the code.
const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
const ci = await readFile(new URL('../.ci/run', import.meta.url), 'utf8').catch(() => '')

t.test('the README opens with the two commands', async (t) => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.match(firstBlock, /^npm start\b/m, 'npm start')
  t.match(firstBlock, /^npm test\b/m, 'npm test')
  t.ok(pkg.scripts.start && pkg.scripts.test, 'both are scripts of package.json')
  t.match(ci, /^npm test\s*$/m, '.ci/run runs the README\'s test command')
})

t.test('the README lists every event type of the catalogue', async (t) => {
  for (const type of catalogue.keys()) t.match(readme, `| \`${type}\` |`, type)
})

t.test('the README lists every error code', async (t) => {
  for (const def of Object.values(Errors)) {
    t.match(readme, `\`${def.code}\``, def.code)
  }
})
