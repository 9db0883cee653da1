import { execFileSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { listArtifacts } from '../../../functions/verify-backup/artifacts.ts'
import { checkConfig, configSchema, type BackupSet, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { verifyFileSet } from '../../../functions/verify-backup/verify.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binarySkipReason } from '../../../sandbox/harness/binaries.ts'
import { etcdSkipReason } from '../../../sandbox/harness/etcd.ts'
import { redisSkipReason } from '../../../sandbox/harness/redis.ts'
import { etcdSnapshot, flipByte, place, redisSave, toolAccepts, truncate } from './artifacts.ts'

// The shipped config must find the backups real installations write: k3s's
// own etcd snapshots (`<name>-<node>-<unix time>`, `.zip` when compressed,
// k3s-io/k3s pkg/etcd/snapshot.go), Redis's `dump.rdb`, and the runbooks'
// dated files; and what it finds must verify, the zipped snapshot included.

const root = new URL('../../../', import.meta.url)
// The function's config itself (kustomize makes the ConfigMap of it).
const shipped = validateConfig<VerifyBackupConfig>(parse(await readFile(new URL('manifests/verify-backup/config.yaml', root), 'utf8')), configSchema, 'manifests/verify-backup/config.yaml')
checkConfig(shipped)
const shippedSet = (name: string): BackupSet => shipped.sets.find((s) => s.name === name)!

const work = await mkdtemp(join(tmpdir(), 'caretaker-names-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
let n = 0
const fresh = () => join(work, `dir-${++n}`)
const HOUR = 3_600_000
const unix = Math.floor(Date.now() / 1000)

async function found(set: BackupSet, names: string[]): Promise<string[]> {
  const dir = fresh()
  await mkdir(dir)
  for (const name of names) await writeFile(join(dir, name), 'x')
  return (await listArtifacts(dir, set.pattern!)).map((a) => a.name).sort()
}

t.test('the shipped etcd pattern finds k3s snapshots and the runbooks\' etcdctl files, and nothing half-written', async (t) => {
  const k3s = [
    `etcd-snapshot-k3s-server-1-${unix}`, // --etcd-snapshot-name default, NODE_NAME, now.Unix()
    `etcd-snapshot-ip-10-0-1-17.eu-west-1.compute.internal-${unix - 43_200}`, // a node name with dots
    `etcd-snapshot-k3s-server-1-${unix - 86_400}.zip`, // --etcd-snapshot-compress
    `on-demand-k3s-server-1-${unix - 600}`, // k3s etcd-snapshot save
    'etcd_20261122_010000.db', // the runbooks' CronJob
  ]
  const never = [
    `etcd-snapshot-k3s-server-1-${unix + 60}.part`, // the etcd client writes here first, then renames
    `etcd-snapshot-k3s-server-1-${unix}.sha256`,
    'etcd-snapshot-k3s-server-1-latest',
    'notes.txt',
  ]
  t.same(await found(shippedSet('etcd'), [...k3s, ...never]), [...k3s].sort())
})

t.test('the shipped Redis pattern finds dump.rdb and dated dumps, not Redis\'s temp files', async (t) => {
  const redis = ['dump.rdb', 'dump_20261122_013000.rdb']
  t.same(await found(shippedSet('redis'), [...redis, 'temp-4711.rdb', 'temp-4711.rdb.sha256', 'appendonly.aof']), redis)
})

const skip = etcdSkipReason() || redisSkipReason() || binarySkipReason('zip', { packageName: 'zip' }) || binarySkipReason('unzip', { packageName: 'unzip' })
t.test('what the shipped patterns find verifies, a k3s compressed snapshot included', { skip }, async (t) => {
  const made = fresh()
  await mkdir(made)
  const image = join(made, `etcd-snapshot-k3s-server-1-${unix}`)
  const rdb = join(made, 'dump.rdb')
  await Promise.all([etcdSnapshot(image), redisSave(rdb)])
  // Go's archive/zip as k3s uses it writes to a stream: sizes in a data
  // descriptor after the data. `zip` to a pipe does the same.
  const streamed = join(made, 'streamed.zip')
  await writeFile(streamed, execFileSync('zip', ['-q', '-', `etcd-snapshot-k3s-server-1-${unix}`], { cwd: made, maxBuffer: 64 * 1024 * 1024 }))
  const seekable = join(made, 'seekable.zip')
  execFileSync('zip', ['-q', '-j', seekable, image])
  const zip64 = join(made, 'zip64.zip')
  execFileSync('zip', ['-q', '-j', '-fz', zip64, image])
  const corruptImage = join(made, 'corrupt', `etcd-snapshot-k3s-server-1-${unix}`)
  await mkdir(join(made, 'corrupt'))
  await copyFile(image, corruptImage)
  await flipByte(corruptImage, Math.floor((await readFile(image)).length / 2))
  const zippedCorrupt = join(made, 'zipped-corrupt.zip')
  execFileSync('zip', ['-q', '-j', zippedCorrupt, corruptImage])

  // One artifact per directory holds no history: the sets' depth against their retention is depth.test.ts's.
  const withoutDepth = (s: BackupSet): BackupSet => {
    const copy = { ...s }
    delete copy.retention
    return copy
  }
  // A throwaway etcd's snapshot is tens of KiB (1.7 KiB zipped), a real cluster's is MiB: only the floor is lowered.
  const etcd = { ...withoutDepth(shippedSet('etcd')), minSizeBytes: 64 }
  const verifyIn = async (set: BackupSet, source: string, name: string) => {
    const dir = fresh()
    const placed = await place(source, dir, name, HOUR)
    return { placed, report: await verifyFileSet({ ...set, directory: dir }, { now: new Date(), signal: new AbortController().signal }) }
  }

  const plain = await verifyIn(etcd, image, `etcd-snapshot-k3s-server-1-${unix}`)
  t.ok(plain.report.verified, `a k3s snapshot verifies (${plain.report.checks.at(-1)?.message})`)

  for (const [label, archive] of [['streamed, data descriptor', streamed], ['seekable', seekable], ['zip64', zip64]] as const) {
    const zipped = await verifyIn(etcd, archive, `etcd-snapshot-k3s-server-1-${unix}.zip`)
    t.ok(zipped.report.verified, `a compressed k3s snapshot (${label}) verifies: ${zipped.report.checks.at(-1)?.message}`)
    t.match(zipped.report.checks.at(-1)?.evidence, { compressed: true, sha256: String, uncompressedBytes: (await readFile(image)).length })
  }
  t.ok(await toolAccepts('unzip', ['-tq', streamed]), 'unzip -t accepts the archive we pass')

  const truncated = await verifyIn(etcd, streamed, `etcd-snapshot-k3s-server-1-${unix}.zip`)
  await truncate(truncated.placed, 0.9)
  const cut = await verifyFileSet({ ...etcd, directory: join(truncated.placed, '..') }, { now: new Date(), signal: new AbortController().signal })
  t.equal(cut.failedCheck, 'integrity', 'a truncated archive fails integrity')
  t.match(cut.checks.at(-1)?.message, /end-of-central-directory/)
  t.notOk(await toolAccepts('unzip', ['-tq', truncated.placed]), 'as unzip -t rejects it')

  const flipped = await verifyIn(etcd, seekable, `etcd-snapshot-k3s-server-1-${unix}.zip`)
  const flipDir = join(flipped.placed, '..')
  const data = await readFile(flipped.placed)
  await flipByte(flipped.placed, Math.floor(data.length / 3))
  const flippedReport = await verifyFileSet({ ...etcd, directory: flipDir }, { now: new Date(), signal: new AbortController().signal })
  t.equal(flippedReport.failedCheck, 'integrity', `a flipped byte in the compressed data fails integrity (${flippedReport.checks.at(-1)?.message})`)
  t.notOk(await toolAccepts('unzip', ['-tq', flipped.placed]), 'as unzip -t rejects it')

  const inner = await verifyIn(etcd, zippedCorrupt, `etcd-snapshot-k3s-server-1-${unix}.zip`)
  t.equal(inner.report.failedCheck, 'integrity', 'a sound archive of a corrupt snapshot fails integrity')
  t.match(inner.report.checks.at(-1)?.message, /SHA-256 mismatch/)
  t.ok(await toolAccepts('unzip', ['-tq', zippedCorrupt]), 'though unzip -t accepts the archive')

  const redis = await verifyIn(withoutDepth(shippedSet('redis')), rdb, 'dump.rdb')
  t.ok(redis.report.verified, `Redis's own dump.rdb verifies (${redis.report.checks.at(-1)?.message})`)
  t.equal(redis.report.artifact?.name, 'dump.rdb')
})
