import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, truncate, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import t from 'tap'
import { detectFormat } from '../../cli/verify-backup.ts'
import { createDemoBackups, type BackupFormat } from '../../sandbox/platform/index.ts'
import { caretaker } from './cli.ts'

// `caretaker verify-backup` on real artifacts: the sandbox's demo backups
// (byte-exact etcd snapshots, Redis RDB files, pg_dumpall dumps, Vault raft
// snapshots, git bundles, with their .sha256 files), one cut short by
// design, and copies damaged here.

t.setTimeout(300_000)

const dir = t.testdir()
const demo = await createDemoBackups(join(dir, 'demo'))
const byName = new Map(demo.sets.map((s) => [s.name, s]))
const CLI_FORMAT: Record<BackupFormat, string> = {
  'etcd-snapshot': 'etcd-snapshot', gzip: 'pg-dumpall-gzip', 'redis-rdb': 'redis-rdb', 'vault-raft': 'vault-raft-snapshot', 'git-bundle': 'git-bundle',
}

// A configuration archive: a gzipped tar carrying its own SHA256SUMS.
const archiveDir = join(dir, 'archive')
await mkdir(archiveDir)
await writeFile(join(archiveDir, 'deployments.yaml'), 'kind: List\nitems: []\n')
await writeFile(join(archiveDir, 'SHA256SUMS'), `${createHash('sha256').update('kind: List\nitems: []\n').digest('hex')}  deployments.yaml\n`)
const archive = join(dir, 'configuration.tar.gz')
execFileSync('tar', ['-czf', archive, '-C', archiveDir, 'SHA256SUMS', 'deployments.yaml'])

t.test('the format is read from the file', async (t) => {
  for (const set of demo.sets) {
    for (const a of set.artifacts) {
      const head = (await readFile(a.path)).subarray(0, 16 * 1024)
      t.equal(detectFormat(head), CLI_FORMAT[set.format], `${set.name}: ${a.file}`)
    }
  }
  t.equal(detectFormat((await readFile(archive)).subarray(0, 16 * 1024)), 'sha256sums-tar-gzip', 'a tar.gz with SHA256SUMS')
  t.equal(detectFormat(Buffer.from('hello, world\n')), undefined, 'text is no backup')
})

t.test('good artifacts: OK, exit 0', async (t) => {
  const etcd = byName.get('etcd')!.artifacts[0]!
  const vault = byName.get('vault')!.artifacts[0]!
  const gitea = byName.get('gitea')!.artifacts[0]!
  const redis = byName.get('redis')!.artifacts[0]!
  const older = byName.get('postgres')!.artifacts[1]!
  const r = await caretaker(['verify-backup', etcd.path, vault.path, gitea.path, redis.path, older.path, archive])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, 6)
  t.match(lines[0], new RegExp(`^OK {4}${etcd.path} \\(etcd-snapshot\\): .*; matches its \\.sha256$`))
  t.match(lines[1], /^OK {4}.*\(vault-raft-snapshot\): vault snapshot sound/)
  t.match(lines[2], /^OK {4}.*\(git-bundle\): /)
  t.match(lines[3], /^OK {4}.*\(redis-rdb\): /, 'a stale file is still sound: age is the set\'s, not the file\'s')
  t.match(lines[4], /^OK {4}.*\(pg-dumpall-gzip\): .*matches its \.sha256$/)
  t.match(lines[5], /^OK {4}.*\(sha256sums-tar-gzip\): archive sound/)
  t.match(r.stderr, /6 file\(s\) verified/)
})

t.test('damaged artifacts: FAIL with the reason, exit 1', async (t) => {
  const bad = join(dir, 'bad')
  await mkdir(bad)
  // The demo's newest dump, cut short on its way to the backup host.
  const cut = byName.get('postgres')!.artifacts[0]!
  // An etcd snapshot that lost its tail (the SHA-256 etcdctl appends), and a Redis dump with a flipped byte.
  const etcd = byName.get('etcd')!.artifacts[0]!
  await copyFile(etcd.path, join(bad, basename(etcd.path)))
  await truncate(join(bad, basename(etcd.path)), etcd.size - 100)
  const rdb = await readFile(byName.get('redis')!.artifacts[0]!.path)
  rdb[Math.floor(rdb.length / 2)]! ^= 0xff
  await writeFile(join(bad, 'dump.rdb'), rdb)
  // A sound dump whose .sha256 no longer matches it.
  const good = byName.get('postgres')!.artifacts[1]!
  await copyFile(good.path, join(bad, 'all.sql.gz'))
  await writeFile(join(bad, 'all.sql.gz.sha256'), `${'0'.repeat(64)}  all.sql.gz\n`)
  await writeFile(join(bad, 'empty.db'), '')
  await writeFile(join(bad, 'notes.txt'), 'not a backup\n')

  const one = await caretaker(['verify-backup', cut.path])
  t.equal(one.code, 1)
  t.match(one.stdout, new RegExp(`^FAIL  ${cut.path} \\(pg-dumpall-gzip\\): .*trunc`, 'i'), 'the cut dump fails its integrity check')

  const r = await caretaker(['verify-backup', bad, '-o', 'json'])
  t.equal(r.code, 1, r.stderr)
  const verdicts = JSON.parse(r.stdout) as Array<{ path: string; format: string | null; ok: boolean; message: string; failedCheck?: string }>
  const of = (name: string) => verdicts.find((v) => basename(v.path) === name)!
  t.same(verdicts.map((v) => basename(v.path)).sort(), ['all.sql.gz', basename(etcd.path), 'dump.rdb', 'empty.db', 'notes.txt'].sort(), 'the .sha256 beside its artifact is checked with it, not alone')
  t.ok(verdicts.every((v) => !v.ok), 'every one fails')
  t.match(of(basename(etcd.path)), { format: 'etcd-snapshot', failedCheck: 'integrity' })
  t.match(of('dump.rdb'), { format: 'redis-rdb', failedCheck: 'integrity' })
  t.match(of('all.sql.gz'), { format: 'pg-dumpall-gzip', failedCheck: 'checksum', message: /sha256|checksum/i })
  t.match(of('empty.db'), { format: null, message: /empty/ })
  t.match(of('notes.txt'), { format: null, message: /not a backup format .*--format/ })
})

t.test('the whole demo directory: the cut dump fails, the rest passes', async (t) => {
  const r = await caretaker(['verify-backup', demo.dir])
  t.equal(r.code, 1)
  const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'))
  t.equal(fails.length, 1, r.stdout)
  t.match(fails[0], byName.get('postgres')!.artifacts[0]!.file)
  t.match(r.stderr, /1 of \d+ file\(s\) failed/)
})

t.test('usage errors: exit 2 and what to fix', async (t) => {
  const none = await caretaker(['verify-backup'])
  t.equal(none.code, 2)
  t.match(none.stderr, /name the backup files or directories/)
  const missing = await caretaker(['verify-backup', join(dir, 'nope.db')])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /cannot read .*nope\.db \(ENOENT\): give an existing backup file or directory/)
  const format = await caretaker(['verify-backup', archive, '--format', 'zip'])
  t.equal(format.code, 2)
  t.match(format.stderr, /--format must be one of pg-dumpall-gzip, etcd-snapshot/)
  const flag = await caretaker(['verify-backup', archive, '--apply'])
  t.equal(flag.code, 2)
  t.match(flag.stderr, /verify-backup takes no --apply/)
  const forced = await caretaker(['verify-backup', archive, '--format', 'redis-rdb'])
  t.equal(forced.code, 1, 'a forced format is checked as that format')
  t.match(forced.stdout, /^FAIL .*\(redis-rdb\): redis rdb: bad header/)
})
