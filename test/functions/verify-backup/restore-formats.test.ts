import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { listArtifacts } from '../../../functions/verify-backup/artifacts.ts'
import { checkConfig, configSchema, type BackupSet, type RestoreTest, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { restoreEtcdSnapshot } from '../../../functions/verify-backup/restore-etcd.ts'
import { restoreGitBundle } from '../../../functions/verify-backup/restore-git.ts'
import { restoreRdb } from '../../../functions/verify-backup/restore-redis.ts'
import { restoreRunner } from '../../../functions/verify-backup/restore.ts'
import { verifyFileSet, type SetReport } from '../../../functions/verify-backup/verify.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binarySkipReason, findBinary } from '../../../sandbox/harness/binaries.ts'
import { etcdSkipReason } from '../../../sandbox/harness/etcd.ts'
import { redisSkipReason } from '../../../sandbox/harness/redis.ts'
import { etcdSnapshot, flipByte, place, redisSave, toolAccepts, truncate } from './artifacts.ts'

// The restore tests of etcd snapshots, Redis RDBs and git bundles, with
// artifacts made by the real tools: each restores into a throwaway server or
// clone that is gone afterwards; damage the integrity check cannot see fails
// the restore; a restore over its time limit is killed, its whole process
// group with it.

const HOUR = 3_600_000
const ETCD_KEYS = 50
/** redisSave: 200 session keys and one hash. */
const REDIS_KEYS = 201

t.test('config: a restore test for etcd, Redis and git sets, with the fields each format has', async (t) => {
  const config = (set: Record<string, unknown>): VerifyBackupConfig => validateConfig({ sets: [{ name: 's', directory: '/backups/s', pattern: '*', rpo: '24h', ...set }] }, configSchema, 'test')
  for (const format of ['etcd-snapshot', 'redis-rdb', 'git-bundle']) {
    const c = config({ format, restore: { timeout: '2m' } })
    t.doesNotThrow(() => checkConfig(c), `${format}: restore accepted`)
    t.match(c.sets[0]!.restore, { mode: 'inline', timeout: '2m' })
  }
  t.doesNotThrow(() => checkConfig(config({ format: 'redis-rdb', restore: { minKeys: 10, expectKeys: ['config'], memoryLimit: '512Mi' } })))
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ format: 'vault-raft-snapshot', restore: {} }, /restore: a restore test is available for pg-dumpall-gzip, etcd-snapshot, redis-rdb, git-bundle sets, not vault-raft-snapshot/],
    [{ format: 'redis-rdb', restore: { mode: 'job' } }, /restore\.mode: job mode is for pg-dumpall-gzip sets/],
    [{ format: 'etcd-snapshot', restore: { queries: [{ sql: 'select 1' }] } }, /restore\.queries: queries are for pg-dumpall-gzip sets/],
    [{ format: 'git-bundle', restore: { minKeys: 1 } }, /restore\.minKeys: minKeys is for etcd-snapshot and redis-rdb sets, not git-bundle/],
    [{ format: 'pg-dumpall-gzip', restore: { memoryLimit: '1Gi' } }, /restore\.memoryLimit: memoryLimit is for etcd-snapshot and redis-rdb sets/],
  ]
  for (const [set, message] of refused) t.throws(() => checkConfig(config(set)), { message }, JSON.stringify(set))
  t.throws(() => config({ format: 'redis-rdb', restore: { memoryLimit: '1GB' } }), 'a memory limit in the Kubernetes notation only')
})

const skip = etcdSkipReason() || redisSkipReason() || binarySkipReason('git', { packageName: 'git' })
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const work = await mkdtemp(join(tmpdir(), 'caretaker-restore-test-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const made = join(work, 'made')
  await mkdir(made)
  const snapshot = join(made, 'etcd.db')
  const rdb = join(made, 'dump.rdb')
  const bundles = await gitBundles(join(made, 'git'))
  await Promise.all([etcdSnapshot(snapshot), redisSave(rdb)])

  // Every restore's throwaway directory goes under TMPDIR: here, to see it gone.
  const scratch = join(work, 'tmp')
  await mkdir(scratch)
  const savedTmp = process.env.TMPDIR
  process.env.TMPDIR = scratch
  t.teardown(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = savedTmp
  })
  t.afterEach(async () => {
    t.same(await readdir(scratch), [], 'no throwaway directory is left under TMPDIR')
  })

  let n = 0
  const fresh = () => join(work, `set-${++n}`)
  const signal = new AbortController().signal
  const restore = restoreRunner()
  const restoreTest = (extra: Partial<RestoreTest> = {}): RestoreTest => ({ timeout: '1m', databases: [], queries: [], ...extra })
  const setOf = (format: BackupSet['format'], directory: string, pattern: string, restoreOptions?: Partial<RestoreTest>): BackupSet => ({
    name: format, format, directory, pattern, rpo: '24h', minSizeBytes: 64, maxShrinkPercent: 100, restore: restoreTest(restoreOptions),
  })
  const verify = (set: BackupSet): Promise<SetReport> => verifyFileSet(set, { now: new Date(), signal, restore })
  const restoreCheck = (r: SetReport) => r.checks.find((c) => c.check === 'restore')
  /** The newest artifact of a directory, as verify-backup lists it. */
  const artifactIn = async (dir: string, pattern = '*') => (await listArtifacts(dir, pattern))[0]!

  t.test('etcd: a snapshot restores into a throwaway etcd, and its keys are counted', async (t) => {
    const dir = fresh()
    await place(snapshot, dir, 'etcd_20261122_010000.db', HOUR)
    const key = '/registry/configmaps/production/cm-7'
    const good = await verify(setOf('etcd-snapshot', dir, 'etcd_*.db', { minKeys: ETCD_KEYS, expectKeys: [key] }))
    t.ok(good.verified, `verified (${restoreCheck(good)?.message})`)
    t.same(good.checks.map((c) => c.check), ['presence', 'age', 'size', 'integrity', 'restore'])
    t.match(restoreCheck(good)?.evidence, { restored: true, keys: ETCD_KEYS, revision: Number, tool: /^etcd(ctl|utl) \d+\.\d+\.\d+/, compressed: false, durationMs: Number })

    const tooFew = await verify(setOf('etcd-snapshot', dir, 'etcd_*.db', { minKeys: ETCD_KEYS + 1 }))
    t.equal(tooFew.failedCheck, 'restore', 'fewer keys than minKeys fails')
    t.match(restoreCheck(tooFew)?.message, `holds ${ETCD_KEYS} key(s), below the minimum ${ETCD_KEYS + 1}`)
    const missing = await verify(setOf('etcd-snapshot', dir, 'etcd_*.db', { expectKeys: [key, '/registry/secrets/none'] }))
    t.equal(missing.failedCheck, 'restore')
    t.match(restoreCheck(missing)?.evidence, { missing: ['/registry/secrets/none'] }, 'an expected key the snapshot lacks fails, named')
    const small = await verify(setOf('etcd-snapshot', dir, 'etcd_*.db', { memoryLimit: '16Ki' }))
    t.equal(small.failedCheck, 'restore', 'a database larger than memoryLimit (--quota-backend-bytes) fails')
    t.match(restoreCheck(small)?.message, /more than restore\.memoryLimit \(16Ki\)/)
  })

  t.test('etcd: etcdutl restores the snapshot where the installed etcd has it', async (t) => {
    const dir = fresh()
    await place(snapshot, dir, 'etcd_20261122_010000.db', HOUR)
    // etcd 3.5 moved `snapshot restore` to etcdutl, with the same flags; Debian 12's 3.4 has
    // none, so here an etcdutl that records its call and hands it to etcdctl.
    const calls = join(work, 'etcdutl.calls')
    const shim = join(work, 'etcdutl')
    await writeFile(shim, `#!/bin/sh\necho "$1 $2" >> ${calls}\nexec ${findBinary('etcdctl', { packageName: 'etcd-client' })} "$@"\n`)
    await chmod(shim, 0o755)
    const set = setOf('etcd-snapshot', dir, 'etcd_*.db', { minKeys: ETCD_KEYS })
    const result = await restoreEtcdSnapshot(await artifactIn(dir), set, signal, { etcdutl: shim })
    t.ok(result.ok, result.message)
    t.match(result.evidence, { tool: /^etcdutl \d+\.\d+\.\d+/, keys: ETCD_KEYS })
    t.same((await readFile(calls, 'utf8')).trim().split('\n'), ['version ', 'snapshot restore'], 'etcdutl, not etcdctl, restored it')
  })

  t.test('etcd: a k3s compressed snapshot is unzipped into the throwaway directory and restores', { skip: binarySkipReason('zip', { packageName: 'zip' }) }, async (t) => {
    const dir = fresh()
    await mkdir(dir)
    const name = `etcd-snapshot-k3s-server-1-${Math.floor(Date.now() / 1000) - 600}`
    // Streamed like Go's archive/zip in k3s: sizes in a data descriptor.
    const image = join(made, name)
    await writeFile(image, await readFile(snapshot))
    await writeFile(join(dir, `${name}.zip`), execFileSync('zip', ['-q', '-', name], { cwd: made, maxBuffer: 64 * 1024 * 1024 }))
    const zipped = await verify(setOf('etcd-snapshot', dir, 'etcd-snapshot-*', { minKeys: ETCD_KEYS }))
    t.ok(zipped.verified, `verified (${restoreCheck(zipped)?.message})`)
    t.match(restoreCheck(zipped)?.evidence, { restored: true, compressed: true, keys: ETCD_KEYS })
  })

  t.test('etcd: a corrupt snapshot does not restore', async (t) => {
    const flipDir = fresh()
    const flipped = await place(snapshot, flipDir, 'etcd_20261122_010000.db', HOUR)
    await flipByte(flipped, Math.floor((await stat(flipped)).size / 2))
    const set = setOf('etcd-snapshot', flipDir, 'etcd_*.db')
    t.equal((await verify(set)).failedCheck, 'integrity', 'the integrity check sees a flipped byte first')
    const direct = await restoreEtcdSnapshot(await artifactIn(flipDir), set, signal)
    t.notOk(direct.ok, 'and the restore refuses it too')
    t.match(direct.message, /^the snapshot does not restore: .*(sha256|hash)/i, direct.message)
    t.match(direct.evidence, { restored: false })

    // Damage the integrity check cannot see: the bbolt pages zeroed, the appended SHA-256 made to match.
    const zeroDir = fresh()
    const zeroed = await place(snapshot, zeroDir, 'etcd_20261122_010000.db', HOUR)
    const data = await readFile(zeroed)
    const db = data.subarray(0, data.length - 32)
    const pageSize = db.readUInt32LE(16 + 8)
    db.fill(0, 2 * pageSize)
    await writeFile(zeroed, Buffer.concat([db, createHash('sha256').update(db).digest()]))
    const report = await verify(setOf('etcd-snapshot', zeroDir, 'etcd_*.db'))
    t.ok(report.checks.find((c) => c.check === 'integrity')?.ok, 'its SHA-256 and meta pages pass the integrity check')
    t.equal(report.failedCheck, 'restore', 'but it does not restore')
    t.match(restoreCheck(report)?.message, /does not restore: /, String(restoreCheck(report)?.message))
  })

  t.test('etcd: a restore over its time limit is stopped', async (t) => {
    const dir = fresh()
    await place(snapshot, dir, 'etcd_20261122_010000.db', HOUR)
    const slow = await verify(setOf('etcd-snapshot', dir, 'etcd_*.db', { timeout: '1ms' }))
    t.equal(slow.failedCheck, 'restore')
    t.match(restoreCheck(slow), { message: 'restore did not finish within 1ms', evidence: { restored: false, timeout: '1ms' } })
  })

  t.test('Redis: an RDB loads into a throwaway redis-server', async (t) => {
    const dir = fresh()
    await place(rdb, dir, 'dump.rdb', HOUR)
    const good = await verify(setOf('redis-rdb', dir, 'dump*.rdb', { minKeys: REDIS_KEYS, expectKeys: ['config', 'session:7'], memoryLimit: '64Mi' }))
    t.ok(good.verified, `verified (${restoreCheck(good)?.message})`)
    t.match(restoreCheck(good)?.evidence, { restored: true, keys: REDIS_KEYS, databases: { db0: REDIS_KEYS }, usedMemory: Number, tool: /^redis-server \d+\.\d+/, durationMs: Number })
    t.same(await readdir(dir), ['dump.rdb'], 'nothing was written beside the backup')

    const missing = await verify(setOf('redis-rdb', dir, 'dump*.rdb', { expectKeys: ['config', 'no-such-key'] }))
    t.equal(missing.failedCheck, 'restore')
    t.match(restoreCheck(missing)?.evidence, { missing: ['no-such-key'], keys: REDIS_KEYS })
    const tooFew = await verify(setOf('redis-rdb', dir, 'dump*.rdb', { minKeys: 1000 }))
    t.match(restoreCheck(tooFew)?.message, `holds ${REDIS_KEYS} key(s), below the minimum 1000`)
    const small = await verify(setOf('redis-rdb', dir, 'dump*.rdb', { memoryLimit: '1Ki' }))
    t.equal(small.failedCheck, 'restore', 'a dataset above memoryLimit (maxmemory) fails')
    t.match(restoreCheck(small)?.message, /more than restore\.memoryLimit \(1Ki\)/)
  })

  t.test('Redis: a truncated RDB does not load', async (t) => {
    const dir = fresh()
    await place(rdb, dir, 'dump.rdb', HOUR).then((p) => truncate(p, 0.6))
    const set = setOf('redis-rdb', dir, 'dump*.rdb')
    t.equal((await verify(set)).failedCheck, 'integrity', 'the integrity check sees it first')
    const direct = await restoreRdb(await artifactIn(dir), set, signal)
    t.notOk(direct.ok, 'and redis-server refuses to load it')
    t.match(direct.message, /^the RDB does not load: .*(Short read|Unexpected EOF)/, direct.message)
    t.match(direct.evidence, { restored: false, error: String })
  })

  t.test('Redis: a restore over its time limit is killed with every process it started', async (t) => {
    const dir = fresh()
    await place(rdb, dir, 'dump.rdb', HOUR)
    // A redis-server that hangs before it starts, in a child of its own.
    const pids = join(work, 'hung.pids')
    const shim = join(work, 'hung-redis-server')
    await writeFile(shim, `#!/bin/sh\necho $$ > ${pids}\nsleep 300 &\necho $! >> ${pids}\nwait\nexec ${findBinary('redis-server', { packageName: 'redis-server' })} "$@"\n`)
    await chmod(shim, 0o755)
    const started = Date.now()
    const slow = await restoreRdb(await artifactIn(dir), setOf('redis-rdb', dir, 'dump*.rdb', { timeout: '1s' }), signal, { 'redis-server': shim })
    t.notOk(slow.ok)
    t.equal(slow.message, 'restore did not finish within 1s')
    t.ok(Date.now() - started < 10_000, 'it returned at its time limit, not when the program would have ended')
    const [shell, sleeper] = (await readFile(pids, 'utf8')).trim().split('\n').map(Number)
    t.ok(shell && sleeper, 'the program and its child had started')
    for (const [what, pid] of [['the program', shell!], ['its child', sleeper!]] as const) t.ok(await gone(pid), `${what} (pid ${pid}) was killed`)
  })

  t.test('git: a full bundle is verified, cloned and checked with git fsck', async (t) => {
    const dir = fresh()
    await place(bundles.full, dir, 'gitea_20261120.bundle', 3 * HOUR)
    const good = await verify(setOf('git-bundle', dir, 'gitea_*.bundle'))
    t.ok(good.verified, `verified (${restoreCheck(good)?.message})`)
    t.match(restoreCheck(good)?.evidence, { restored: true, incremental: false, refs: 2, objects: Number, tool: /^git \d+\.\d+/, durationMs: Number })
    t.ok((restoreCheck(good)?.evidence.objects as number) >= 3 * bundles.fullCommits, 'every object of the history is in the clone')
  })

  t.test('git: an incremental bundle is restored onto the set\'s previous full bundle', async (t) => {
    const dir = fresh()
    await place(bundles.full, dir, 'gitea_20261120.bundle', 3 * HOUR)
    await place(bundles.incremental1, dir, 'gitea_20261121.bundle', 2 * HOUR)
    await place(bundles.incremental2, dir, 'gitea_20261122.bundle', HOUR)
    const first = await verifyFileSet(setOf('git-bundle', dir, 'gitea_*.bundle'), { now: new Date(), signal, restore, only: join(dir, 'gitea_20261121.bundle') })
    t.ok(first.verified, `the first incremental: verified (${restoreCheck(first)?.message})`)
    t.match(restoreCheck(first)?.evidence, { restored: true, incremental: true, base: 'gitea_20261120.bundle', applied: ['gitea_20261121.bundle'], prerequisites: 1 })
    const newest = await verify(setOf('git-bundle', dir, 'gitea_*.bundle'))
    t.ok(newest.verified, `the second, built on the first: verified (${restoreCheck(newest)?.message})`)
    t.match(restoreCheck(newest)?.evidence, { restored: true, incremental: true, base: 'gitea_20261120.bundle', applied: ['gitea_20261121.bundle', 'gitea_20261122.bundle'] })
  })

  t.test('git: a set of incremental bundles only fails: nothing could restore them', async (t) => {
    const dir = fresh()
    await place(bundles.incremental1, dir, 'gitea_20261121.bundle', 2 * HOUR)
    await place(bundles.incremental2, dir, 'gitea_20261122.bundle', HOUR)
    const report = await verify(setOf('git-bundle', dir, 'gitea_*.bundle'))
    t.ok(report.checks.find((c) => c.check === 'integrity')?.ok, 'the bundle itself is sound')
    t.equal(report.failedCheck, 'restore', 'but the restore fails')
    t.match(restoreCheck(report)?.message, /gitea_20261122\.bundle is an incremental bundle \(it requires 1 commit\(s\) it does not hold\) and the set has no full bundle before it/)
    t.match(restoreCheck(report)?.evidence, { restored: false, incremental: true, prerequisites: 1 })
    t.notOk(await toolAccepts('git', ['clone', '-q', '--mirror', join(dir, 'gitea_20261122.bundle'), join(work, 'clone-attempt')]), 'as git clone of it fails')
    await rm(join(work, 'clone-attempt'), { recursive: true, force: true })
  })

  t.test('git: a corrupt bundle does not restore, and a restore over its time limit is stopped', async (t) => {
    const dir = fresh()
    const path = await place(bundles.full, dir, 'gitea_20261120.bundle', HOUR)
    const set = setOf('git-bundle', dir, 'gitea_*.bundle')
    await flipByte(path, -40)
    const direct = await restoreGitBundle(await artifactIn(dir), set, signal)
    t.notOk(direct.ok)
    // git bundle verify reads the header only; the damaged pack fails the clone.
    t.match(direct.message, /^git clone of gitea_20261120\.bundle fails: .*inflate/, direct.message)
    t.match(direct.evidence, { restored: false, error: String })
    const slow = await restoreGitBundle(await artifactIn(dir), { ...set, restore: restoreTest({ timeout: '1ms' }) }, signal)
    t.equal(slow.message, 'restore did not finish within 1ms')
  })

  t.test('a shutdown during a restore is no verdict on the backup', async (t) => {
    const dir = fresh()
    await place(rdb, dir, 'dump.rdb', HOUR)
    const stopping = new AbortController()
    stopping.abort()
    await t.rejects(restoreRdb(await artifactIn(dir), setOf('redis-rdb', dir, 'dump*.rdb'), stopping.signal), { message: /interrupted by shutdown/ })
  })
}

/** Whether a process has ended (gone, or a zombie waiting for its parent), within a few seconds. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
    if (status === '' || /^State:\s+Z/m.test(status)) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/**
 * A repository's bundles as a backup runbook makes them: a full one
 * (`--all`), then two incremental ones, each from the previous one's tip.
 */
async function gitBundles(root: string): Promise<{ full: string; incremental1: string; incremental2: string; fullCommits: number }> {
  const repo = join(root, 'repo')
  await mkdir(repo, { recursive: true })
  const git = (...args: string[]) => execFileSync('git', args, {
    cwd: repo, encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'ops', GIT_AUTHOR_EMAIL: 'ops@example.org', GIT_COMMITTER_NAME: 'ops', GIT_COMMITTER_EMAIL: 'ops@example.org' },
  })
  const commit = async (i: number) => {
    await writeFile(join(repo, `runbook-${i}.md`), `# runbook ${i}\n`.repeat(20))
    git('add', '.')
    git('commit', '-q', '-m', `runbook ${i}`)
  }
  git('init', '-q', '-b', 'main')
  const fullCommits = 4
  for (let i = 0; i < fullCommits; i++) await commit(i)
  git('tag', 'v1')
  const full = join(root, 'full.bundle')
  git('bundle', 'create', '-q', full, '--all')
  const base1 = git('rev-parse', 'main').trim()
  for (let i = fullCommits; i < fullCommits + 2; i++) await commit(i)
  const incremental1 = join(root, 'incremental1.bundle')
  git('bundle', 'create', '-q', incremental1, `${base1}..main`)
  const base2 = git('rev-parse', 'main').trim()
  for (let i = fullCommits + 2; i < fullCommits + 4; i++) await commit(i)
  const incremental2 = join(root, 'incremental2.bundle')
  git('bundle', 'create', '-q', incremental2, `${base2}..main`)
  return { full, incremental1, incremental2, fullCommits }
}
