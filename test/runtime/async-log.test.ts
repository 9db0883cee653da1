import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, constants, createReadStream, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnFunction, type FunctionProcess } from '../../sandbox/harness/process.ts'
import { AsynchronousOutput } from '../../shared/logger.ts'

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

t.test('a stdout that is not read holds a bounded queue: what does not fit is dropped, counted, and said once it drains', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-async-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // A pipe nobody reads yet: its buffer fills, then every write is refused with EAGAIN (a non-blocking stdout).
  const fifo = join(dir, 'out')
  execFileSync('mkfifo', [fifo])
  const writeEnd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
  t.teardown(() => closeSync(writeEnd))
  const out = new AsynchronousOutput(writeEnd, { maxQueuedChars: 64 * 1024 })
  const line = (i: number): string => `${JSON.stringify({ level: 'info', i, pad: 'x'.repeat(200) })}\n`
  for (let i = 0; i < 5000; i++) out.write(line(i))
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(out.dropped > 0, `the queue stopped growing: ${out.dropped} lines dropped`)
  // The reader comes back: what was queued arrives, then the count of what was not.
  const read = createReadStream(fifo)
  let text = ''
  read.on('data', (chunk) => { text += String(chunk) })
  for (let waited = 0; !text.includes('log lines dropped') && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
  read.destroy()
  const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { i?: number; dropped?: number; msg?: string })
  const kept = lines.filter((l) => l.i !== undefined).map((l) => l.i!)
  const said = lines.find((l) => l.msg?.startsWith('log lines dropped'))
  t.ok(said, 'a line says lines were dropped')
  t.equal(kept.length + (said?.dropped ?? 0), 5000, 'every line is either written or counted')
  t.same(kept, [...kept].sort((a, b) => a - b), 'the kept lines in order')
  t.equal(kept[0], 0, 'the first lines are kept (the newest are dropped)')
})

t.test('flushSync writes what is still queued; a full pipe is waited for a while, a reader gone not at all', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-async-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const line = (i: number): string => `${JSON.stringify({ i })}\n`
  const kept = (text: string): number[] => text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { i: number }).i)

  // A file: the first line goes on the thread pool, the rest wait; flushSync writes those at once.
  const file = join(dir, 'log')
  const fileFd = openSync(file, 'a')
  t.teardown(() => closeSync(fileFd))
  const toFile = new AsynchronousOutput(fileFd)
  for (let i = 0; i < 100; i++) toFile.write(line(i))
  toFile.flushSync()
  t.ok(kept(readFileSync(file, 'utf8')).length >= 99, 'what was queued is on disk when flushSync returns')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(kept(readFileSync(file, 'utf8')).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i), 'and the write that was under way lands too')

  // A pipe whose buffer is full and nobody reads: flushSync gives up after its wait, and what is left is dropped.
  const full = join(dir, 'full')
  execFileSync('mkfifo', [full])
  const fullFd = openSync(full, constants.O_RDWR | constants.O_NONBLOCK)
  t.teardown(() => closeSync(fullFd))
  const toFull = new AsynchronousOutput(fullFd, { exitWaitMs: 100, maxQueuedChars: 64 * 1024 })
  for (let i = 0; i < 2000; i++) toFull.write(`${line(i).slice(0, -1)}${' '.repeat(200)}\n`)
  // A refused write waits for its retry, and the queue is full: flushSync takes both, and the count of what was dropped.
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(toFull.dropped > 0)
  const started = Date.now()
  toFull.flushSync()
  t.ok(Date.now() - started < 5000, 'flushSync returns after its wait, not never')
  // The retry that was pending finds its chunk taken by flushSync and does nothing.
  await new Promise((resolve) => setTimeout(resolve, 50))
  toFull.write(line(1))
  toFull.flushSync()
  t.pass('and the output, broken now, takes lines without writing them')

  // A pipe whose reader is gone: the write fails (EPIPE), lines are dropped from then on, and flushSync does not wait.
  const gone = join(dir, 'gone')
  execFileSync('mkfifo', [gone])
  const readFd = openSync(gone, constants.O_RDONLY | constants.O_NONBLOCK)
  const goneFd = openSync(gone, constants.O_WRONLY | constants.O_NONBLOCK)
  t.teardown(() => closeSync(goneFd))
  closeSync(readFd)
  const toGone = new AsynchronousOutput(goneFd)
  toGone.write(line(0))
  await new Promise((resolve) => setTimeout(resolve, 100))
  toGone.write(line(1))
  const before = Date.now()
  toGone.flushSync()
  t.ok(Date.now() - before < 1000, 'no wait for a reader that is gone')
})
