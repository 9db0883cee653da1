import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { binarySkipReason, findBinary, missingBinaryMessage } from '../../sandbox/harness/binaries.ts'

async function program(path: string, mode = 0o755): Promise<string> {
  await writeFile(path, '#!/bin/sh\nexit 0\n')
  await chmod(path, mode)
  return path
}

t.test('finds a program on PATH, skipping non-executable files and earlier misses', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'caretaker-bin-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const [first, second] = [join(root, 'first'), join(root, 'second')]
  await mkdir(first)
  await mkdir(second)
  await program(join(first, 'tool'), 0o644)
  const found = await program(join(second, 'tool'))
  const env = { PATH: [join(root, 'absent'), first, second].join(':') }
  t.equal(findBinary('tool', { packageName: 'tool-package', env }), found)
  t.equal(binarySkipReason('tool', { packageName: 'tool-package', env }), false)
})

t.test('finds a real program on the real PATH', async (t) => {
  const sh = findBinary('sh', { packageName: 'dash' })
  t.match(sh, /^\/.*\/sh$/)
})

t.test('PostgreSQL programs: PATH first, then the highest Debian version', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'caretaker-bin-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const postgresqlRoot = join(root, 'lib', 'postgresql')
  for (const version of ['9.6', '15', '16', 'notes']) {
    await mkdir(join(postgresqlRoot, version, 'bin'), { recursive: true })
    await program(join(postgresqlRoot, version, 'bin', 'initdb'))
  }
  const pathDir = join(root, 'bin')
  await mkdir(pathDir)
  const options = { packageName: 'postgresql', postgresqlRoot }

  t.equal(findBinary('initdb', { ...options, env: { PATH: pathDir } }), join(postgresqlRoot, '16', 'bin', 'initdb'), 'the highest version wins')
  const onPath = await program(join(pathDir, 'initdb'))
  t.equal(findBinary('initdb', { ...options, env: { PATH: pathDir } }), onPath, 'PATH comes first')
  t.equal(findBinary('initdb', { packageName: 'other', postgresqlRoot, env: { PATH: join(root, 'none') } }), undefined,
    'the Debian directories are for PostgreSQL only')
})

t.test('a missing program under CI=true is an error naming the install command', async (t) => {
  const env = { PATH: '/nonexistent-caretaker-dir', CI: 'true' }
  t.throws(() => findBinary('redis-server', { packageName: 'redis-server', env }), {
    message: 'redis-server not found; install it with: apt-get install -y redis-server',
  })
  t.throws(() => binarySkipReason('initdb', { packageName: 'postgresql', postgresqlRoot: '/nonexistent-caretaker-dir', env }), {
    message: 'initdb not found; install it with: apt-get install -y postgresql',
  })
})

t.test('a missing program outside CI is undefined, with a skip reason giving the install command', async (t) => {
  for (const CI of [undefined, 'false', '1']) {
    const env = { PATH: '/nonexistent-caretaker-dir', ...(CI === undefined ? {} : { CI }) }
    t.equal(findBinary('redis-server', { packageName: 'redis-server', env }), undefined, `CI=${CI}`)
    t.equal(binarySkipReason('redis-server', { packageName: 'redis-server', env }),
      'redis-server not found; install it with: apt-get install -y redis-server')
  }
  t.equal(missingBinaryMessage('etcd', 'etcd-server'), 'etcd not found; install it with: apt-get install -y etcd-server')
})
