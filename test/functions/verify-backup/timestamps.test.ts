import { copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { listArtifacts } from '../../../functions/verify-backup/artifacts.ts'
import { checkConfig, configSchema, type BackupSet, type NameTimestamp, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { nameTimeReader } from '../../../functions/verify-backup/timestamps.ts'
import { verifyFileSet } from '../../../functions/verify-backup/verify.ts'
import { validateConfig } from '../../../shared/config.ts'
import { CaretakerError } from '../../../shared/errors.ts'
import { gitBundle } from './artifacts.ts'

// An artifact's time from its name: a copy without -t, a restore from object
// storage or a cp resets the modification time, never the name. Real files,
// a real git bundle; their modification times set as a copy leaves them.

const HOUR = 3_600_000
const DAY = 24 * HOUR
const work = await mkdtemp(join(tmpdir(), 'caretaker-stamps-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const bundle = join(work, 'source.bundle')
await gitBundle(work, bundle)
let n = 0
const fresh = () => join(work, `set-${++n}`)
const signal = new AbortController().signal

const ts = (formats: string[], extra: Partial<NameTimestamp> = {}): NameTimestamp => ({ formats, zone: 'UTC', unparsed: 'mtime', ...extra })
const read = (formats: string[], name: string, extra: Partial<NameTimestamp> = {}) => nameTimeReader(ts(formats, extra))(name).time?.toISOString()

/** `YYYYMMDD` of a time, in UTC. */
const ymd = (d: Date) => d.toISOString().slice(0, 10).replaceAll('-', '')

/** Copies the bundle under each name, every copy's modification time `mtime` (a copy's: now, unless said). */
async function setOf(names: string[], mtime = new Date()): Promise<string> {
  const dir = fresh()
  await mkdir(dir)
  for (const name of names) {
    await copyFile(bundle, join(dir, name))
    await utimes(join(dir, name), mtime, mtime)
  }
  return dir
}
const gitea = (directory: string, timestamp?: NameTimestamp, extra: Partial<BackupSet> = {}): BackupSet => ({
  name: 'gitea', format: 'git-bundle', directory, pattern: 'gitea*.bundle', rpo: '7d', minSizeBytes: 64, maxShrinkPercent: 50, ...(timestamp ? { timestamp } : {}), ...extra,
})

t.test('the runbooks\' names give their times, UTC unless the name or the set says otherwise', async (t) => {
  t.equal(read(['unix'], 'etcd-snapshot-node1-1733356800'), '2024-12-05T00:00:00.000Z', 'k3s: unix seconds, after a node name with a digit')
  t.equal(read(['unix'], 'etcd-snapshot-ip-10-0-1-17-1733356800.zip'), '2024-12-05T00:00:00.000Z', 'a compressed k3s snapshot')
  t.equal(read(['YYYY-MM-DDTHHmm'], 'pg-2026-12-05T0300.sql.gz'), '2026-12-05T03:00:00.000Z')
  t.equal(read(['iso8601'], 'pg-2026-12-05T0300.sql.gz'), '2026-12-05T03:00:00.000Z', 'iso8601 reads the basic time form too')
  t.equal(read(['iso8601'], 'vault-2026-12-05T03:00:00+01:00.snap'), '2026-12-05T02:00:00.000Z', 'a name\'s own offset wins over the zone')
  t.equal(read(['iso8601'], 'vault-2026-12-05T03:00:00Z.snap', { zone: 'local' }), '2026-12-05T03:00:00.000Z')
  t.equal(read(['YYYYMMDD[-HHmm]'], 'redis-20261205-0300.rdb'), '2026-12-05T03:00:00.000Z')
  t.equal(read(['YYYYMMDD[-HHmm]'], 'redis-20261205.rdb'), '2026-12-05T00:00:00.000Z', 'the optional part may be missing')
  t.equal(read(['YYYY-MM-DD'], 'gitea-2026-12-05.bundle'), '2026-12-05T00:00:00.000Z')
  t.equal(read(['YYYYMMDD_HHmmss'], 'all_databases_20261122_020000.sql.gz'), '2026-11-22T02:00:00.000Z')
  t.equal(read(['YYYYMMDD_HHmmss', 'unix'], 'etcd-snapshot-k3s-1-1733356800'), '2024-12-05T00:00:00.000Z', 'the formats are tried in order')

  t.equal(read(['YYYY.MM.DD'], 'backup-2026.12.05.tar'), '2026-12-05T00:00:00.000Z', 'a separator is literal')
  t.equal(read(['YYYY.MM.DD'], 'backup-2026x12x05.tar'), undefined, 'and only itself')
  t.equal(read(['YYYYMMDD'], 'redis-20261305.rdb'), undefined, 'month 13 is no date')
  t.equal(read(['YYYYMMDD'], 'redis-20260231.rdb'), undefined, 'nor is 31 February')
  t.equal(read(['unix'], 'etcd-snapshot-node1-173335680'), undefined, '9 digits are not unix seconds')
  t.equal(read(['YYYYMMDD'], 'dump-2026120501.rdb'), undefined, 'digits run on past the format: not a date')
  t.match(nameTimeReader(ts(['YYYYMMDD', 'unix']))('dump.rdb'), { note: 'the name has no timestamp in "YYYYMMDD" or "unix"' })

  const tz = process.env.TZ
  t.teardown(() => {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  })
  process.env.TZ = 'America/New_York'
  t.equal(read(['YYYYMMDD[-HHmm]'], 'redis-20261205-0300.rdb', { zone: 'local' }), '2026-12-05T08:00:00.000Z', 'zone local: the function\'s TZ')
  t.equal(read(['YYYYMMDD[-HHmm]'], 'redis-20261205-0300.rdb'), '2026-12-05T03:00:00.000Z', 'UTC by default, whatever the TZ')
})

/** The message checkConfig refuses a config with (invalid_config), or undefined. */
function refusal(config: VerifyBackupConfig): string | undefined {
  try {
    checkConfig(config)
    return undefined
  } catch (err) {
    return err instanceof CaretakerError && err.code === 'invalid_config' ? err.message : `unexpected: ${String(err)}`
  }
}

t.test('a format that is not one is refused at start, saying why', async (t) => {
  const config = (formats: string[]): VerifyBackupConfig => validateConfig<VerifyBackupConfig>({ sets: [{ name: 'gitea', format: 'git-bundle', directory: '/backups/gitea', pattern: 'gitea_*.bundle', rpo: '7d', timestamp: { formats } }] }, configSchema, 'test')
  const valid = config(['YYYYMMDD'])
  t.same(valid.sets[0]?.timestamp, { formats: ['YYYYMMDD'], zone: 'UTC', unparsed: 'mtime' }, 'UTC and the mtime fallback by default')
  t.doesNotThrow(() => checkConfig(valid))
  for (const [formats, problem] of [
    [['yyyyMMdd'], /config\.sets\[0\]\.timestamp\.formats\[0\]: "yyyyMMdd" is not a timestamp format: "y" at 0 is neither a token/],
    [['YYYY-MM'], /it needs DD/],
    [['YYYYMMDD[_HHmm'], /a "\[" without its "\]"/],
    [['YYYYMMDD_mm'], /mm \(minutes\) without HH/],
    [['YYYYMMDD', 'YYYYYYYY'], /formats\[1\]: .*YYYY appears twice/],
  ] as const) {
    t.match(refusal(config([...formats])), problem, `${formats.join(', ')} is refused`)
  }
  const longhorn = validateConfig<VerifyBackupConfig>({ sets: [{ name: 'lh', format: 'longhorn', rpo: '24h', longhorn: { volumes: ['v'] }, timestamp: { formats: ['unix'] } }] }, configSchema, 'test')
  t.match(refusal(longhorn), /timestamp: a longhorn set takes its times from the Backup objects/)
})

t.test('the name wins over a modification time a copy has reset', async (t) => {
  const now = new Date()
  const stale = new Date(now.getTime() - 10 * DAY)
  const dir = await setOf([`gitea_${ymd(stale)}.bundle`])
  const byMtime = await verifyFileSet(gitea(dir), { now, signal })
  t.ok(byMtime.verified, 'by its modification time the copy looks fresh: the stale backup passes')

  const byName = await verifyFileSet(gitea(dir, ts(['YYYYMMDD'])), { now, signal })
  t.equal(byName.failedCheck, 'age', 'by its name it is 10 days old: older than the RPO of 7d')
  // Ten days and the time since midnight UTC, in two units at most: `10d 14h`, or `10d 5m` in the hour after midnight.
  t.match(byName.checks.at(-1)?.message, /the newest artifact, gitea_\d{8}\.bundle, is 10d( \d+[hm])? old \(by its name\), older than the RPO of 7d/)
  t.match(byName.artifact, { timeSource: 'name', time: `${stale.toISOString().slice(0, 10)}T00:00:00.000Z` })
  t.match(byName.checks.at(-1)?.evidence, { timeSource: 'name', time: String, modified: String })

  // Restored from object storage with old modification times: the names are recent.
  const restored = await setOf([`gitea_${ymd(new Date(now.getTime() - DAY))}.bundle`, `gitea_${ymd(new Date(now.getTime() - 8 * DAY))}.bundle`], new Date(now.getTime() - 40 * DAY))
  const fine = await verifyFileSet(gitea(restored, ts(['YYYYMMDD'])), { now, signal })
  t.ok(fine.verified, `fresh by its name (${fine.checks.map((c) => c.message).join('; ')})`)
  t.equal(fine.artifact?.name, `gitea_${ymd(new Date(now.getTime() - DAY))}.bundle`, 'the newest by name is verified')
})

t.test('newest by name, whatever the modification times say', async (t) => {
  const now = new Date()
  const newer = `gitea_${ymd(new Date(now.getTime() - DAY))}.bundle`
  const older = `gitea_${ymd(new Date(now.getTime() - 3 * DAY))}.bundle`
  const dir = await setOf([newer, older])
  // rsync without -t copied the older one last.
  await utimes(join(dir, newer), new Date(now.getTime() - HOUR), new Date(now.getTime() - HOUR))
  t.same((await listArtifacts(dir, 'gitea*.bundle')).map((a) => a.name), [older, newer], 'by modification time the older looks newest')
  t.same((await listArtifacts(dir, 'gitea*.bundle', ts(['YYYYMMDD']))).map((a) => a.name), [newer, older], 'by name it is not')
})

t.test('a name without a timestamp: its modification time, and the report says so; or a failure, when the set says so', async (t) => {
  const now = new Date()
  const dir = await setOf([`gitea_${ymd(new Date(now.getTime() - 2 * DAY))}.bundle`, 'gitea_latest.bundle'])
  const fallback = await verifyFileSet(gitea(dir, ts(['YYYYMMDD'])), { now, signal })
  t.ok(fallback.verified, 'the undated copy, fresh by its modification time, is the newest')
  t.match(fallback.artifact, { name: 'gitea_latest.bundle', timeSource: 'mtime', timeNote: 'the name has no timestamp in "YYYYMMDD": its modification time is used' })
  const age = fallback.checks.find((c) => c.check === 'age')!
  t.match(age.message, /\(by its modification time: the name has no timestamp in "YYYYMMDD": its modification time is used\)/)
  t.match(age.evidence, { unparsedNames: ['gitea_latest.bundle'], unparsedCount: 1 })

  const strict = await verifyFileSet(gitea(dir, ts(['YYYYMMDD'], { unparsed: 'fail' })), { now, signal })
  t.equal(strict.failedCheck, 'age-name-unparsed')
  t.equal(strict.checks.at(-1)?.check, 'age')
  t.match(strict.checks.at(-1)?.message, /1 artifact\(s\) of the set have no timestamp in their name \(gitea_latest\.bundle\); the set's timestamp\.unparsed is "fail"/)
})

t.test('a name dated in the future fails age: the zone or the clock is wrong', async (t) => {
  const now = new Date()
  const dir = await setOf([`gitea_${ymd(new Date(now.getTime() + 2 * DAY))}.bundle`])
  const report = await verifyFileSet(gitea(dir, ts(['YYYYMMDD'])), { now, signal })
  t.equal(report.failedCheck, 'age-future')
  t.match(report.checks.at(-1)?.message, /in the future \(by its name\): check the set's timestamp\.zone/)
})

t.test('the shipped sets read their names, k3s\'s unix seconds included', async (t) => {
  const shipped = validateConfig<VerifyBackupConfig>(parse(await readFile(new URL('../../../manifests/verify-backup/config.yaml', import.meta.url), 'utf8')), configSchema, 'manifests/verify-backup/config.yaml')
  checkConfig(shipped)
  const set = (name: string) => shipped.sets.find((s) => s.name === name)!
  for (const s of shipped.sets) if (s.format !== 'longhorn') t.equal(s.timestamp?.zone, 'UTC', `${s.name}: names in UTC`)
  const dir = fresh()
  await mkdir(dir)
  const names = ['etcd-snapshot-k3s-server-1-1733356800', 'on-demand-k3s-server-1-1733360400.zip', 'etcd_20241204_010000.db']
  for (const name of names) await writeFile(join(dir, name), 'x')
  const found = await listArtifacts(dir, set('etcd').pattern!, set('etcd').timestamp)
  t.same(found.map((a) => [a.name, a.time.toISOString(), a.timeSource]), [
    ['on-demand-k3s-server-1-1733360400.zip', '2024-12-05T01:00:00.000Z', 'name'],
    ['etcd-snapshot-k3s-server-1-1733356800', '2024-12-05T00:00:00.000Z', 'name'],
    ['etcd_20241204_010000.db', '2024-12-04T01:00:00.000Z', 'name'],
  ])
  const redis = fresh()
  await mkdir(redis)
  for (const name of ['dump_20241204_013000.rdb', 'dump.rdb']) await writeFile(join(redis, name), 'x')
  t.same((await listArtifacts(redis, set('redis').pattern!, set('redis').timestamp)).map((a) => [a.name, a.timeSource]), [['dump.rdb', 'mtime'], ['dump_20241204_013000.rdb', 'name']], 'Redis\'s own dump.rdb falls back to its modification time')
  const giteaDir = fresh()
  await mkdir(giteaDir)
  for (const name of ['gitea_20241201.bundle', 'gitea_20241202_030000.bundle']) await writeFile(join(giteaDir, name), 'x')
  t.same((await listArtifacts(giteaDir, set('gitea').pattern!, set('gitea').timestamp)).map((a) => a.time.toISOString()), ['2024-12-02T03:00:00.000Z', '2024-12-01T00:00:00.000Z'])
})
