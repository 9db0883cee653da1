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

t.test('a few at a time in order; one asked for starts at once; one that cannot start does not stop the others', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-starter-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'broken'))
  await writeFile(join(dir, 'broken', 'index.ts'), "throw new Error('this function cannot load')\n")
  const specs: FunctionSpec[] = [
    { name: 'first', module: echo },
    { name: 'broken', module: join(dir, 'broken', 'index.ts') },
    { name: 'wanted', module: echo },
  ]
  // Whether `wanted` had started when `broken` began: the queue waits while an asked-for start is under way.
  let wantedSettled = false
  let brokenBeganAfterWanted: boolean | undefined
  const envOf = async (name: string): Promise<Record<string, string>> => {
    if (name === 'broken') brokenBeganAfterWanted = wantedSettled
    return env()
  }
  const starter = new FunctionStarter(specs, envOf, logger, { concurrency: 1 })
  t.teardown(() => starter.stop())
  void starter.started('wanted').finally(() => { wantedSettled = true })
  t.same(starter.begun(), ['first'], 'one at a time: the first has begun')
  // A request for `wanted` arrives while `first` starts: it begins at once, beside it, ahead of `broken`.
  starter.demand('wanted')
  t.same(starter.begun(), ['first', 'wanted'], 'the asked-for function began at once, out of turn')
  starter.demand('wanted')
  starter.demand('first')
  const results = await starter.all()
  t.equal(brokenBeganAfterWanted, true, 'while the asked-for one started, the queue waited (it had the cores)')
  t.same(starter.begun(), ['first', 'wanted', 'broken'], 'each began once; the queue went on once it was ready')
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
  const starter = new FunctionStarter(specs, env, logger, { concurrency: 1 })
  await starter.stop()
  await t.rejects(starter.started('a'), /a was stopped before it was ready/)
  await t.rejects(starter.started('b'), /b was not started: the platform is stopping/)
})

t.test('made paused: nothing starts before begin(), but one asked for starts at once', async (t) => {
  const specs: FunctionSpec[] = [{ name: 'a', module: echo }, { name: 'b', module: echo }, { name: 'c', module: echo }]
  const starter = new FunctionStarter(specs, env, logger, { concurrency: 1, paused: true })
  t.teardown(() => starter.stop())
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(starter.begun(), [], 'paused: no start has begun')
  starter.demand('c')
  t.same(starter.begun(), ['c'], 'a request does not wait for begin()')
  await starter.started('c')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(starter.begun(), ['c'], 'and the queue still waits for begin()')
  starter.begin()
  await starter.all()
  t.same(starter.begun(), ['c', 'a', 'b'])
})

t.test('stopped while paused: nothing starts, every start is refused', async (t) => {
  const starter = new FunctionStarter([{ name: 'a', module: echo }], env, logger, { paused: true })
  await starter.stop()
  await t.rejects(starter.started('a'), /a was not started: the platform is stopping/)
  t.same(starter.begun(), [])
})
