import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { BackupSet } from '../../../functions/verify-backup/config.ts'
import { postgresRestoreRunner } from '../../../functions/verify-backup/restore.ts'
import { verifyFileSet, type SetReport } from '../../../functions/verify-backup/verify.ts'
import { etcdSkipReason } from '../../../sandbox/harness/etcd.ts'
import { postgresSkipReason } from '../../../sandbox/harness/postgres.ts'
import { redisSkipReason } from '../../../sandbox/harness/redis.ts'
import { buildRealArtifacts, flipByte, incompleteDump, ORDERS, place, toolAccepts, truncate, type RealArtifacts } from './artifacts.ts'

// Every format, with artifacts made by the real tools: intact passes; each
// kind of damage fails, and the report names the check that caught it.

const skip = postgresSkipReason() || redisSkipReason() || etcdSkipReason()
if (skip) {
  t.comment(`skipped: ${skip}`)
  t.pass(`skipped: ${skip}`)
} else {
  const HOUR = 3_600_000
  const art: RealArtifacts = await buildRealArtifacts()
  const work = await mkdtemp(join(tmpdir(), 'caretaker-verify-'))
  t.teardown(async () => {
    await art.cleanup()
    await rm(work, { recursive: true, force: true })
  })

  let n = 0
  const fresh = () => join(work, `set-${++n}`)
  const signal = new AbortController().signal
  const restore = postgresRestoreRunner()

  const formats: Array<{ format: BackupSet['format']; file: () => string; name: string; pattern: string }> = [
    { format: 'pg-dumpall-gzip', file: () => art.pgDump, name: 'all_databases_20261122_020000.sql.gz', pattern: 'all_databases_*.sql.gz' },
    { format: 'etcd-snapshot', file: () => art.etcdSnapshot, name: 'etcd_20261122_010000.db', pattern: 'etcd_*.db' },
    { format: 'redis-rdb', file: () => art.redisRdb, name: 'dump_20261122_030000.rdb', pattern: 'dump_*.rdb' },
    { format: 'vault-raft-snapshot', file: () => art.vaultSnapshot, name: 'vault_20261122_020000.snap', pattern: 'vault_*.snap' },
    { format: 'git-bundle', file: () => art.gitBundle, name: 'gitea_20261122.bundle', pattern: 'gitea_*.bundle' },
  ]

  const setFor = (f: (typeof formats)[number], directory: string, extra: Partial<BackupSet> = {}): BackupSet => ({
    name: f.format, format: f.format, directory, pattern: f.pattern, rpo: '24h', minSizeBytes: 64, maxShrinkPercent: 50, ...extra,
  })
  const verify = (set: BackupSet): Promise<SetReport> => verifyFileSet(set, { now: new Date(), signal, restore })
  const failedAt = (r: SetReport) => r.failedCheck

  for (const f of formats) {
    t.test(f.format, async (t) => {
      const intactDir = fresh()
      await place(f.file(), intactDir, f.name, 2 * HOUR)
      const intact = await verify(setFor(f, intactDir))
      t.ok(intact.verified, `intact: verified (${intact.checks.at(-1)?.message})`)
      t.same(intact.checks.map((c) => c.check), ['presence', 'age', 'size', 'integrity'], 'every check ran, in order')
      t.equal(intact.artifact?.name, f.name)

      const missing = await verify(setFor(f, fresh()))
      t.equal(failedAt(missing), 'presence', 'missing: presence fails')

      const oldDir = fresh()
      await place(f.file(), oldDir, f.name, 30 * HOUR)
      const old = await verify(setFor(f, oldDir))
      t.equal(failedAt(old), 'age', 'too old: age fails')
      t.match(old.checks.at(-1)?.message, /older than the RPO of 24h/)

      const emptyDir = fresh()
      const empty = await place(f.file(), emptyDir, f.name, HOUR)
      await writeFile(empty, '')
      const emptied = await verify(setFor(f, emptyDir))
      t.equal(failedAt(emptied), 'size-empty', 'empty: size fails, as empty')
      t.equal(emptied.checks.at(-1)?.check, 'size')
      t.match(emptied.checks.at(-1)?.message, /is empty \(0 bytes\)/)

      const shrunkDir = fresh()
      await place(f.file(), shrunkDir, f.name, 26 * HOUR)
      await place(f.file(), shrunkDir, f.name.replace('20261122', '20261123'), HOUR).then((p) => truncate(p, 0.3))
      const shrunk = await verify(setFor(f, shrunkDir))
      t.equal(failedAt(shrunk), 'size-shrunk', 'shrunk against the previous artifact: size fails, as shrunk')
      t.match(shrunk.checks.at(-1)?.evidence, { shrinkPercent: Number }, 'with the shrink as evidence')

      const truncDir = fresh()
      await place(f.file(), truncDir, f.name, HOUR).then((p) => truncate(p, 0.9))
      t.equal(failedAt(await verify(setFor(f, truncDir))), 'integrity', 'truncated: integrity fails')

      const flipDir = fresh()
      await place(f.file(), flipDir, f.name, HOUR).then(async (p) => flipByte(p, Math.floor((await readFile(p)).length / 2)))
      const flipped = await verify(setFor(f, flipDir))
      t.equal(failedAt(flipped), 'integrity', `a flipped byte: integrity fails (${flipped.checks.at(-1)?.message})`)

      const sumDir = fresh()
      const withSum = await place(f.file(), sumDir, f.name, HOUR)
      const digest = createHash('sha256').update(await readFile(withSum)).digest('hex')
      await writeFile(`${withSum}.sha256`, `${digest}  ${f.name}\n`)
      const summed = await verify(setFor(f, sumDir))
      t.ok(summed.verified, 'a matching .sha256 beside it passes')
      t.equal(summed.checks.at(-1)?.check, 'checksum')
      await writeFile(`${withSum}.sha256`, `${'0'.repeat(64)}  ${f.name}\n`)
      const wrongSum = await verify(setFor(f, sumDir))
      t.equal(failedAt(wrongSum), 'checksum', 'a wrong checksum: checksum fails')
      t.match(wrongSum.checks.at(-1)?.evidence, { expectedSha256: '0'.repeat(64), actualSha256: digest }, 'with expected and actual as evidence')
    })
  }

  t.test('integrity verdicts agree with the real tools', async (t) => {
    const dir = fresh()
    const good = await place(art.pgDump, dir, 'good.sql.gz', 0)
    const cut = await place(art.pgDump, dir, 'cut.sql.gz', 0)
    await truncate(cut, 0.9)
    t.ok(await toolAccepts('gzip', ['-t', good]), 'gzip -t accepts the dump we pass')
    t.notOk(await toolAccepts('gzip', ['-t', cut]), 'and rejects the truncated one we fail')
    t.ok(await toolAccepts('git', ['bundle', 'verify', art.gitBundle]), 'git bundle verify accepts the bundle we pass')
    if (await toolAccepts('sh', ['-c', 'command -v redis-check-rdb'])) {
      t.ok(await toolAccepts('redis-check-rdb', [art.redisRdb]), 'redis-check-rdb accepts the RDB we pass')
    }
  })

  t.test('PostgreSQL: the restore test', async (t) => {
    const f = formats[0]!
    const queries = [{ database: 'app', sql: 'select count(*) from orders', min: ORDERS }]
    const withRestore = (dir: string, min = ORDERS) => setFor(f, dir, { restore: { timeout: '2m', databases: ['app'], queries: [{ ...queries[0]!, min }] } })

    const goodDir = fresh()
    await place(art.pgDump, goodDir, f.name, HOUR)
    const good = await verify(withRestore(goodDir))
    t.ok(good.verified, `a real pg_dumpall dump restores (${good.checks.at(-1)?.message})`)
    t.equal(good.checks.at(-1)?.check, 'restore')
    t.match(good.checks.at(-1)?.evidence, { queries: [{ database: 'app', value: ORDERS, ok: true }] }, 'the sanity query saw every row')

    const tooFew = await verify(withRestore(goodDir, ORDERS + 1))
    t.equal(failedAt(tooFew), 'restore', 'a sanity query below its minimum fails the restore check')

    const badDir = fresh()
    await place(art.pgDumpBadSql, badDir, f.name, HOUR)
    const bad = await verify(withRestore(badDir))
    t.ok(bad.checks.find((c) => c.check === 'integrity')?.ok, 'its gzip is sound (gzip -t would pass it)')
    t.equal(failedAt(bad), 'restore', 'but the restore fails')
    t.match(bad.checks.at(-1)?.message, /does not restore: .*no_such_table/, 'reported with the first error line')

    const slow = await verify(setFor(f, goodDir, { restore: { timeout: '1ms', databases: [], queries: [] } }))
    t.equal(failedAt(slow), 'restore', 'a restore over its time limit fails')
    t.match(slow.checks.at(-1)?.message, /did not finish within 1ms/)

    const cutDir = fresh()
    await mkdir(cutDir)
    await incompleteDump(art.pgDump, join(cutDir, f.name))
    const cut = await verify(setFor(f, cutDir))
    t.equal(failedAt(cut), 'integrity', 'a dump cut short inside a sound gzip fails integrity')
    t.match(cut.checks.at(-1)?.message, /dump is incomplete/)
  })
}
