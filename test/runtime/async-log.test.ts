import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnFunction, type FunctionProcess } from '../../sandbox/harness/process.ts'

// A function process writes its log asynchronously (shared/logger.ts, AsynchronousOutput): these pin that the
// lines still queued when it ends are written, however it ends, and that a reader gone does not hold the exit.
const BURST = 'test/fixtures/functions/log-burst.ts'
const LINES = 3000

async function withConfig(t: Test, yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-async-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.yaml')
  await writeFile(path, yaml)
  return path
}

/** Every line the process wrote: read until its stdout closes, not only until it exits. */
async function allLines(fn: FunctionProcess): Promise<Array<Record<string, unknown>>> {
  if (fn.child.exitCode === null || fn.child.stdout?.readableEnded === false) await once(fn.child, 'close')
  return fn.lines
}

function burstCount(lines: Array<Record<string, unknown>>): number {
  return new Set(lines.filter((l) => l.msg === 'burst line').map((l) => l.burst)).size
}

t.test('the lines logged during the SIGTERM drain are all written before the process exits', async (t) => {
  const fn = spawnFunction(BURST, { CARETAKER_CONFIG: await withConfig(t, `lines: ${LINES}\nending: signal\n`) })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  await fn.waitForLine((l) => l.msg === 'function ready')
  fn.child.kill('SIGTERM')
  t.equal(await fn.exited, 0)
  const lines = await allLines(fn)
  t.equal(burstCount(lines), LINES, 'every line of the burst')
  t.ok(lines.some((l) => l.msg === 'draining finished'), 'and the drain\'s own line')
})

for (const [ending, code] of [['exit', 0], ['throw', 1], ['reject', 1]] as const) {
  t.test(`the lines logged just before ${ending === 'exit' ? 'process.exit' : ending === 'throw' ? 'an uncaught exception' : 'an unhandled rejection'} are all written`, async (t) => {
    const fn = spawnFunction(BURST, { CARETAKER_CONFIG: await withConfig(t, `lines: ${LINES}\nending: ${ending}\n`) })
    t.teardown(() => { fn.child.kill('SIGKILL') })
    t.equal(await fn.exited, code)
    t.equal(burstCount(await allLines(fn)), LINES, 'every line of the burst')
    if (ending !== 'exit') t.match(fn.stderr(), /log-burst (crashed|rejected) on purpose/, 'Node printed the crash')
  })
}

t.test('a full pipe (fd 1 non-blocking, the reader paused) delays the lines, it loses none', async (t) => {
  const fn = spawnFunction(BURST, { CARETAKER_CONFIG: await withConfig(t, `lines: ${LINES}\nending: exit\nstdoutNonBlocking: true\n`) })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  await fn.waitForLine((l) => l.msg === 'function ready')
  // The burst (about 750 kB, ten pipes' worth) meets a pipe nobody reads for a while: writes, and the flush at exit, get EAGAIN.
  fn.child.stdout!.pause()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  fn.child.stdout!.resume()
  t.equal(await fn.exited, 0)
  t.equal(burstCount(await allLines(fn)), LINES, 'every line of the burst')
})

t.test('a process whose log reader is gone still exits at once (no retrying a broken pipe at exit)', async (t) => {
  const fn = spawnFunction(BURST, { CARETAKER_CONFIG: await withConfig(t, `lines: ${LINES}\nending: exit\n`) })
  t.teardown(() => { fn.child.kill('SIGKILL') })
  // The reader goes away after the first line: the burst's writes, and the flush at exit, meet a broken pipe.
  await fn.waitForLine(() => true)
  fn.child.stdout!.destroy()
  const timer = setTimeout(() => fn.child.kill('SIGKILL'), 20_000)
  t.teardown(() => clearTimeout(timer))
  t.equal(await fn.exited, 0, 'exited by itself, not killed after 20 s')
})
