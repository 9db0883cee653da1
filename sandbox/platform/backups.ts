import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { startVaultSimulator } from '../simulators/vault/index.ts'
import { backupStamp, scheduleTimes, writeArtifact, type DemoArtifact, type DemoBackupOptions, type DemoBackups, type DemoBackupSet } from './backups/layout.ts'
import { pgDumpallSql } from './backups/pg-dump.ts'
import { etcdSnapshot } from './backups/etcd-snapshot.ts'
import { redisDump } from './backups/redis-rdb.ts'
import { gitBundles } from './backups/git-bundle.ts'

/**
 * A demo backup directory of real artifacts, one folder per backup set, with
 * the runbooks' file names, schedules and ages (functions.md):
 *
 *   etcd/etcd_YYYYMMDD_HHMMSS.db (+ .sha256)          daily 01:00, all verify
 *   postgres/all_databases_YYYYMMDD_HHMMSS.sql.gz (+ .sha256)  daily 02:00;
 *                                                     the newest is truncated (corrupt)
 *   redis/dump_YYYYMMDD_HHMMSS.rdb                    daily 01:30; stale: the
 *                                                     last three nights never arrived
 *   vault/vault_YYYYMMDD_HHMMSS.snap                  daily 02:00, all verify
 *   gitea/gitea_YYYYMMDD_HHMMSS.bundle (+ .sha256)    weekly, Sunday 04:00
 *
 * Each file's mtime is when its job finished. Needs `git` on PATH for the
 * bundles (a real `git bundle create`).
 */

export async function createDemoBackups(dir: string, now: Date = new Date(), options: DemoBackupOptions = {}): Promise<DemoBackups> {
  const sets: DemoBackupSet[] = []
  const folder = async (name: string) => { const d = join(dir, name); await mkdir(d, { recursive: true }); return d }

  // etcd: daily 01:00, 30 days retention; the last week is here and sound.
  {
    const d = await folder('etcd')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 1, 0, 7).entries()) artifacts.push(await writeArtifact(d, `etcd_${backupStamp(t)}.db`, etcdSnapshot(t, 7 - i), t, { checksum: true, durationMs: 20_000 }))
    sets.push({ name: 'etcd', dir: d, format: 'etcd-snapshot', pattern: 'etcd_*.db', schedule: '0 1 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'verified' })
  }

  // PostgreSQL: daily 02:00, 30 days; the newest dump was cut short (the copy to the backup host broke).
  {
    const d = await folder('postgres')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 2, 0, 7).entries()) {
      const gz = gzipSync(Buffer.from(pgDumpallSql(t, 7 - i)), { level: 6 })
      artifacts.push(await writeArtifact(d, `all_databases_${backupStamp(t)}.sql.gz`, gz, t, { checksum: true, durationMs: 4 * 60_000, ...(i === 0 ? { corruptTo: Math.floor(gz.length * 0.6) } : {}) }))
    }
    sets.push({ name: 'postgres', dir: d, format: 'gzip', pattern: 'all_databases_*.sql.gz', schedule: '0 2 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'corrupt' })
  }

  // Redis: daily 01:30, 7 days; the last three nights never arrived.
  {
    const d = await folder('redis')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 1, 30, 4, { skip: 3 }).entries()) artifacts.push(await writeArtifact(d, `dump_${backupStamp(t)}.rdb`, redisDump(t, 4 - i), t, { durationMs: 15_000 }))
    sets.push({ name: 'redis', dir: d, format: 'redis-rdb', pattern: 'dump_*.rdb', schedule: '30 1 * * *', rpoHours: 24, retentionDays: 7, artifacts, expected: 'stale' })
  }

  // Vault: daily 02:00, 30 days; raft snapshots in Vault's own archive format.
  {
    const d = await folder('vault')
    const own = options.vault ? undefined : await startVaultSimulator()
    try {
      const vault = (options.vault ?? own)!
      const artifacts: DemoArtifact[] = []
      const times = scheduleTimes(now, 2, 0, 5)
      for (const [i, t] of [...times].reverse().entries()) {
        if (own) own.putSecret('secret', `demo/snapshot-${i}`, { note: `written before the snapshot of ${t.toISOString()}` })
        artifacts.unshift(await writeArtifact(d, `vault_${backupStamp(t)}.snap`, vault.snapshot(), t, { durationMs: 10_000 }))
      }
      sets.push({ name: 'vault', dir: d, format: 'vault-raft', pattern: 'vault_*.snap', schedule: '0 2 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'verified' })
    } finally {
      await own?.close()
    }
  }

  // Gitea: weekly, Sunday 04:00, 90 days; real bundles of a growing repository.
  {
    const d = await folder('gitea')
    const times = scheduleTimes(now, 4, 0, 4, { weekday: 0 })
    const bundles = await gitBundles(times, d)
    const artifacts: DemoArtifact[] = []
    for (const t of times) artifacts.push(await writeArtifact(d, `gitea_${backupStamp(t)}.bundle`, bundles.get(t.getTime())!, t, { checksum: true, durationMs: 30_000 }))
    sets.push({ name: 'gitea', dir: d, format: 'git-bundle', pattern: 'gitea_*.bundle', schedule: '0 4 * * 0', rpoHours: 7 * 24, retentionDays: 90, artifacts, expected: 'verified' })
  }

  return { dir, sets }
}
