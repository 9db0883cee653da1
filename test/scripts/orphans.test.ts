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
