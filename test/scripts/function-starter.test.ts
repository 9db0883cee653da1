import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { FunctionStarter, type FunctionSpec } from '../../sandbox/local/functions.ts'

// How npm start starts its functions behind the activator: a few at a time, a
// requested one first, one that cannot start leaving the others be.

t.setTimeout(240_000)
const logger = createLogger({ level: 'silent' })
const echo = resolve('test/fixtures/local/functions/echo/index.ts')
const env = async (): Promise<Record<string, string>> => ({ CARETAKER_AUTH: 'none', LOG_LEVEL: 'info' })

t.test('one at a time: a prioritized function starts next; one that cannot start does not stop the others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-starter-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'broken'))
  await writeFile(join(dir, 'broken', 'index.ts'), "throw new Error('this function cannot load')\n")
  const specs: FunctionSpec[] = [
    { name: 'first', module: echo },
    { name: 'broken', module: join(dir, 'broken', 'index.ts') },
    { name: 'wanted', module: echo },
  ]
  const starter = new FunctionStarter(specs, env, logger, 1)
  t.teardown(() => starter.stop())
  // `first` has begun; `wanted` is asked for before `broken` begins.
  starter.prioritize('wanted')
  const order: string[] = []
  for (const spec of specs) void starter.started(spec.name).then(() => order.push(spec.name), () => order.push(`${spec.name} (failed)`))
  const results = await starter.all()
  t.same(order, ['first', 'wanted', 'broken (failed)'], 'the asked-for function started before the one queued ahead of it')
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'in the order of the specs')
  await t.rejects(starter.started('broken'), /broken exited before it was ready/, 'the failed start says what happened')
  const wanted = await starter.started('wanted')
  t.match(wanted.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await fetch(`${wanted.url}/health/readiness`)
  t.equal(res.status, 200, 'the started ones serve')
  await starter.stop()
  t.not(wanted.child.exitCode ?? wanted.child.signalCode, null, 'stop() ends every process it started')
})

t.test('stopped while starting: the half-started process goes, and the queued ones never start', async (t) => {
  const specs: FunctionSpec[] = [{ name: 'a', module: echo }, { name: 'b', module: echo }]
  const starter = new FunctionStarter(specs, env, logger, 1)
  await starter.stop()
  await t.rejects(starter.started('a'), /a was stopped before it was ready/)
  await t.rejects(starter.started('b'), /b was not started: the platform is stopping/)
})
