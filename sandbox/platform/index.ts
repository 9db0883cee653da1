/**
 * The sandbox's demo content: the platform seeded into the simulators and a
 * directory of real backup artifacts, for `npm start` with no cluster and for
 * tests that want a realistic platform.
 *
 *   const kube = await startKubernetesSimulator()
 *   const vault = await startVaultSimulator()
 *   const summary = await seedSandbox({ kube, vault, now })
 *   const backups = await createDemoBackups(join(stateDir, 'backups'), now, { vault })
 */
export { seedSandbox } from './seed.ts'
export { ROTATION_INTERVAL_DAYS, RETENTION_DAYS, PROTECTED_LABEL, VAULT_MOUNT } from './seed/context.ts'
export type { SeedOptions, SeedSummary, SeedKubernetes, SeedVault, CertificateState } from './seed/context.ts'
export { createDemoBackups } from './backups.ts'
export { backupStamp } from './backups/layout.ts'
export type { DemoBackups, DemoBackupSet, DemoArtifact, DemoBackupOptions, BackupFormat, DemoExpectation } from './backups/layout.ts'
export { pgDumpallSql } from './backups/pg-dump.ts'
export { etcdSnapshot } from './backups/etcd-snapshot.ts'
export { redisDump } from './backups/redis-rdb.ts'
export { makeCertificate } from './certs.ts'
export { demoAlerts, DEMO_ALERTS_REPOST_MS, DEMO_ALERTS_VALID_MS } from './alerts.ts'
export { startDemoVaultStandby } from './vault-ha.ts'
export { startDemoDatabases, DEMO_POSTGRES, DEMO_REDIS } from './databases.ts'
export type { DemoDatabases } from './databases.ts'
