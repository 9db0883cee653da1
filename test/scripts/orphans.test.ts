import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'

// npm start runs each function in a child process. When npm start is killed
// outright (SIGKILL, an OOM kill), nothing can stop its children for it: each
// function notices its parent's IPC channel closing and stops by itself.

const root = fileURLToPath(new URL('../../', import.meta.url))

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('a function whose npm start was killed stops by itself', async (t) => {
  const dir = t.testdir()
  const config = join(dir, 'bridge.yaml')
  await writeFile(config, 'auth: none\n')
  // A parent like npm start: it starts one function process, says its pid, and waits.
  const parentCode = `
    import { startFunctionProcess } from './sandbox/local/functions.ts'
    import { createLogger } from './shared/logger.ts'
    const fn = await startFunctionProcess({ name: 'alertmanager-bridge', module: 'alertmanager-bridge' }, { CARETAKER_AUTH: 'none', CARETAKER_CONFIG: ${JSON.stringify(config)}, LOG_LEVEL: 'info' }, createLogger({ level: 'silent' }))
    process.stderr.write('child ' + fn.child.pid + '\\n')
    setInterval(() => undefined, 1000)
  `
  const parent = spawn(process.execPath, ['--input-type=module', '-e', parentCode], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  const childPid = await new Promise<number>((resolve, reject) => {
    parent.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8')
      const m = /child (\d+)/.exec(err)
      if (m) resolve(Number(m[1]))
    })
    parent.on('exit', (code) => reject(new Error(`the parent exited (${code}) before its function was ready: ${err}`)))
  })
  t.ok(alive(childPid), 'the function runs')
  parent.kill('SIGKILL')
  let gone = false
  for (let i = 0; i < 200 && !gone; i++) {
    await sleep(50)
    gone = !alive(childPid)
  }
  if (!gone) process.kill(childPid, 'SIGKILL')
  t.ok(gone, 'the function stopped within 10 s of its parent being killed')
})

// The servers a process starts (the sandbox's demo PostgreSQL and Redis, a
// restore test's throwaway PostgreSQL) have no IPC channel to notice their
// parent's death: each has a watchdog reading a pipe from the parent, which
// ends however the parent dies, and then stops the server.
t.test('servers whose starter was killed outright stop by themselves', async (t) => {
  const parentCode = `
    import { startDaemon } from './shared/process/daemon.ts'
    const plain = startDaemon('sleep', ['300'])
    // A program that forks, in a process group of its own: the whole group goes.
    const group = startDaemon('/bin/sh', ['-c', 'sleep 300 & echo forked $! ; wait'], { processGroup: true })
    let out = ''
    group.child.stdout.on('data', (c) => {
      out += c
      const m = /forked (\\d+)/.exec(out)
      if (m) process.stderr.write('pids ' + plain.child.pid + ' ' + group.child.pid + ' ' + m[1] + '\\n')
    })
    setInterval(() => undefined, 1000)
  `
  const parent = spawn(process.execPath, ['--input-type=module', '-e', parentCode], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  const pids = await new Promise<number[]>((resolve, reject) => {
    parent.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8')
      const m = /pids (\d+) (\d+) (\d+)/.exec(err)
      if (m) resolve([Number(m[1]), Number(m[2]), Number(m[3])])
    })
    parent.on('exit', (code) => reject(new Error(`the parent exited (${code}) before its servers ran: ${err}`)))
  })
  t.ok(pids.every(alive), 'the servers run')
  parent.kill('SIGKILL')
  for (let i = 0; i < 300 && pids.some(alive); i++) await sleep(50)
  const left = pids.filter(alive)
  for (const pid of left) process.kill(pid, 'SIGKILL')
  t.same(left, [], 'each server, and what the grouped one forked, stopped within 15 s of its starter being killed')
})

t.test('a server stopped as usual takes its watchdog with it, and neither keeps its starter running', async (t) => {
  const parentCode = `
    import { readdirSync, readFileSync } from 'node:fs'
    import { startDaemon } from './shared/process/daemon.ts'
    const d = startDaemon('sleep', ['300'])
    // The processes whose command line is this server's watchdog's (read from /proc, as pgrep -f does).
    const watchdogs = () => readdirSync('/proc').filter((p) => {
      try { return readFileSync('/proc/' + p + '/cmdline', 'utf8').split(String.fromCharCode(0)).join(' ').includes('caretaker-watchdog ' + d.child.pid + ' ') } catch { return false }
    }).length
    const before = watchdogs()
    await d.stop('SIGTERM')
    await new Promise((r) => setTimeout(r, 200))
    const after = watchdogs()
    process.stderr.write('watchdogs ' + before + ' ' + after + '\\n')
  `
  const parent = spawn(process.execPath, ['--input-type=module', '-e', parentCode], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  parent.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const code = await new Promise<number | null>((resolve) => parent.on('exit', resolve))
  t.equal(code, 0, `the starter ended by itself once its server stopped: ${err}`)
  t.match(err, /watchdogs 1 0/, 'one watchdog while the server ran, none after it stopped')
})
