import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binaryHeaders } from '../../sandbox/harness/function.ts'
import { spawnFunction } from '../../sandbox/harness/process.ts'

const ECHO = 'test/fixtures/functions/echo.ts'
const TYPE = 'dev.caretaker.test.echo.requested'

async function ready(fn: ReturnType<typeof spawnFunction>): Promise<string> {
  const line = await fn.waitForLine((l) => l.msg === 'function ready')
  return String(line.address)
}

t.test('SIGTERM drains an in-flight event before the process exits', async (t) => {
  const fn = spawnFunction(ECHO, { LOG_LEVEL: 'debug', CARETAKER_SHUTDOWN_TIMEOUT: '30' })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  const url = await ready(fn)
  const headers = binaryHeaders(TYPE)
  const inFlight = fetch(url, { method: 'POST', headers, body: JSON.stringify({ message: 'slow', sleepMs: 1500 }) })
  await fn.waitForLine((l) => l.msg === 'echo started')
  fn.child.kill('SIGTERM')
  await fn.waitForLine((l) => l.msg === 'shutting down')

  const readiness = await fetch(`${url}/health/readiness`)
  t.equal(readiness.status, 503, 'not ready while draining, so Knative stops routing here')
  const late = await fetch(url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'late' }) })
  t.equal(late.status, 503, 'a new event is refused with a retryable status')
  t.equal(((await late.json()) as { error: string }).error, 'shutting_down')

  const res = await inFlight
  t.equal(res.status, 200, 'the in-flight event finished')
  t.match(await res.text(), /slow/)
  t.equal(await fn.exited, 0, 'clean exit after draining')
  const drained = fn.lines.find((l) => l.msg === 'draining finished')
  t.equal(drained?.drained, true)
})

t.test('past the shutdown deadline the handler is told to stop and the exit says so', async (t) => {
  const fn = spawnFunction(ECHO, { LOG_LEVEL: 'debug', CARETAKER_SHUTDOWN_TIMEOUT: '1' })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  const url = await ready(fn)
  const inFlight = fetch(url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'stuck', sleepMs: 8000 }) })
  await fn.waitForLine((l) => l.msg === 'echo started')
  fn.child.kill('SIGTERM')
  const res = await inFlight
  t.equal(res.status, 200, 'the aborted handler still answered')
  t.equal(await fn.exited, 1, 'exit code 1: not everything drained in time')
  t.equal(fn.lines.find((l) => l.msg === 'draining finished')?.drained, false)
})

t.test('an invalid config stops the process with the bad field named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cases = [
    { yaml: 'greeting: hi\nmaxSleepMs: lots\n', message: /config\.maxSleepMs: must be integer/ },
    { yaml: 'greting: hi\n', message: /config\.greting: is not a known field/ },
    { yaml: 'greeting: [unclosed\n', message: /not valid YAML at line/ },
  ]
  for (const [i, c] of cases.entries()) {
    const path = join(dir, `config-${i}.yaml`)
    await writeFile(path, c.yaml)
    const fn = spawnFunction(ECHO, { CARETAKER_CONFIG: path })
    t.equal(await fn.exited, 2, `exit code 2 for ${JSON.stringify(c.yaml)}`)
    const fatal = fn.lines.find((l) => l.level === 'fatal')
    t.equal(fatal?.error, 'invalid_config')
    t.match(String(fatal?.msg), c.message)
  }
  const missing = spawnFunction(ECHO, { CARETAKER_CONFIG: join(dir, 'absent.yaml') })
  t.equal(await missing.exited, 2)
  t.match(String(missing.lines.find((l) => l.level === 'fatal')?.msg), /cannot read configuration file .*absent\.yaml \(ENOENT\)/)
  const unsafe = spawnFunction(ECHO, { HOST: '0.0.0.0' })
  t.equal(await unsafe.exited, 2, 'auth none on a public address refuses to start')
})

t.test('a valid config is used', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yaml')
  await writeFile(path, 'greeting: ahoy\n')
  const fn = spawnFunction(ECHO, { CARETAKER_CONFIG: path })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  const url = await ready(fn)
  const res = await fetch(url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'sailor' }) })
  t.match(await res.text(), /ahoy, sailor/)
  fn.child.kill('SIGTERM')
  t.equal(await fn.exited, 0)
})
