import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { listArtifacts } from '../../../functions/verify-backup/artifacts.ts'
import type { BackupSet } from '../../../functions/verify-backup/config.ts'
import { sidecarPath } from '../../../functions/verify-backup/formats/sidecar.ts'
import { hashFile, readAt } from '../../../functions/verify-backup/formats/stream.ts'
import { verifyFileSet } from '../../../functions/verify-backup/verify.ts'

// A set's directory may hold symbolic links; none is followed out of it, so
// no byte of a file elsewhere can be read, let alone quoted in a reply.

const root = await mkdtemp(join(tmpdir(), 'caretaker-links-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
const outside = join(root, 'outside')
const set = join(root, 'set')
await mkdir(outside)
await mkdir(set)
const SECRET = 'TOPSECRET-do-not-quote'
// Looks like a git bundle, so a reader that followed the link would parse and quote it.
await writeFile(join(outside, 'shadow'), `# v2 git bundle\n${SECRET} refs/heads/main\n\n`)
await writeFile(join(outside, 'shadow.sha256'), `${'0'.repeat(64)}  ${SECRET}\n`)

t.test('a link to a file outside the directory is not an artifact, nor is a link to a directory', async (t) => {
  const dir = join(set, 'out')
  await mkdir(dir)
  await symlink(join(outside, 'shadow'), join(dir, 'gitea_20261122.bundle'))
  await symlink('../../outside/shadow', join(dir, 'gitea_20261123.bundle'))
  await symlink(outside, join(dir, 'gitea_20261124.bundle'))
  await symlink(join(root, 'nowhere'), join(dir, 'gitea_20261125.bundle'))
  t.same(await listArtifacts(dir, 'gitea_*.bundle'), [])

  const backupSet: BackupSet = { name: 'gitea', format: 'git-bundle', directory: dir, pattern: 'gitea_*.bundle', rpo: '24h', minSizeBytes: 1, maxShrinkPercent: 50 }
  for (const only of [undefined, join(dir, 'gitea_20261122.bundle')]) {
    const report = await verifyFileSet(backupSet, { now: new Date(), signal: new AbortController().signal, ...(only ? { only } : {}) })
    t.equal(report.verified, false)
    t.equal(report.failedCheck, 'presence')
    t.notMatch(JSON.stringify(report), SECRET, 'nothing of the target is in the report')
  }
})

t.test('a link to a file in the same directory is read through its real path', async (t) => {
  const dir = join(set, 'in')
  await mkdir(dir)
  await writeFile(join(dir, 'gitea_20261122.bundle'), 'bundle bytes')
  await utimes(join(dir, 'gitea_20261122.bundle'), new Date('2026-11-22T00:00:00Z'), new Date('2026-11-22T00:00:00Z'))
  await symlink('gitea_20261122.bundle', join(dir, 'gitea_latest.bundle'))
  const listed = await listArtifacts(dir, 'gitea_*.bundle')
  t.same(listed.map((a) => [a.name, a.path]).sort(), [['gitea_20261122.bundle', join(dir, 'gitea_20261122.bundle')], ['gitea_latest.bundle', join(dir, 'gitea_20261122.bundle')]])
})

t.test('a checksum file linked from outside is not used', async (t) => {
  const dir = join(set, 'sidecar')
  await mkdir(dir)
  await writeFile(join(dir, 'a.bundle'), 'x')
  await symlink(join(outside, 'shadow.sha256'), join(dir, 'a.bundle.sha256'))
  t.equal(await sidecarPath(join(dir, 'a.bundle')), undefined)
  await writeFile(join(dir, 'b.bundle'), 'x')
  await writeFile(join(dir, 'b.bundle.sha256'), `${'0'.repeat(64)}  b.bundle\n`)
  t.equal(await sidecarPath(join(dir, 'b.bundle')), join(dir, 'b.bundle.sha256'))
})

t.test('a link swapped in after the listing is not followed when read', async (t) => {
  const dir = join(set, 'swap')
  await mkdir(dir)
  await symlink(join(outside, 'shadow'), join(dir, 'late.bundle'))
  await t.rejects(readAt(join(dir, 'late.bundle'), 0, 64), { code: 'ELOOP' })
  await t.rejects(hashFile(join(dir, 'late.bundle'), 'sha256'), { code: 'ELOOP' })
})
