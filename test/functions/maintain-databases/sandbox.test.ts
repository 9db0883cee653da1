import t from 'tap'
import maintainDatabases from '../../../functions/maintain-databases/index.ts'
import { configSchema, type MaintainDatabasesConfig } from '../../../functions/maintain-databases/config.ts'
import { sandboxConfigs, type SandboxFacts } from '../../../sandbox/local/sandbox-configs.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { postgresSkipReason } from '../../../sandbox/harness/postgres.ts'
import { redisSkipReason } from '../../../sandbox/harness/redis.ts'
import { startDemoDatabases, DEMO_POSTGRES, DEMO_REDIS } from '../../../sandbox/platform/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// maintain-databases on the demo platform `npm start` runs: the sandbox's own
// PostgreSQL and Redis, its config, its Vault; each runbook check finds what
// the demo planted, with the shipped thresholds.

type Finding = { task: string; check: string; severity: string; message: string; evidence: Record<string, unknown> }

const skip = postgresSkipReason() || redisSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const vault = await startVaultSimulator()
  t.teardown(() => vault.close())
  const databases = await startDemoDatabases(vault)
  t.teardown(() => databases.close())
  const config = validateConfig<MaintainDatabasesConfig>(sandboxConfigs({ seeded: { namespaces: [], certificates: [], backupJobs: [], snapshots: [], objects: [] }, backups: { sets: [] }, databases } as unknown as SandboxFacts)['maintain-databases'], configSchema, 'sandbox')
  const fn = await startTestFunction(maintainDatabases, { config, env: { VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken } })
  t.teardown(() => fn.stop())
  const request = async (target: string, task: string) => {
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.database.maintenance.requested'), body: JSON.stringify({ target, task }) })
    return { status: res.status, body: await res.json() as { status: string; findings: Finding[]; actions: Array<{ action: string; outcome: string }> } }
  }

  t.test('both demo servers run, nothing is missing', async (t) => {
    t.same(databases.missing, [])
    t.same(config.targets.map((x) => x.name), [DEMO_POSTGRES.name, DEMO_REDIS.name])
    t.equal(vault.getSecret('secret', DEMO_POSTGRES.vaultPath)?.password, databases.postgres!.password, 'the credentials are in the demo Vault')
  })

  t.test('PostgreSQL daily finds the slow statements', async (t) => {
    const r = await request(DEMO_POSTGRES.name, 'daily')
    t.equal(r.status, 200)
    const slow = r.body.findings.find((f) => f.check === 'slowest-statements')
    t.equal(slow?.severity, 'warning', 'pg_sleep(0.6) is over the shipped 500 ms')
    t.equal(r.body.status, 'warning')
  })

  t.test('PostgreSQL weekly plans VACUUM ANALYZE of the table that is mostly dead tuples, in dry-run', async (t) => {
    const r = await request(DEMO_POSTGRES.name, 'weekly')
    t.equal(r.status, 200)
    t.ok(r.body.findings.some((f) => f.check === 'dead-tuples' && JSON.stringify(f.evidence).includes('events')), 'events is found bloated')
    t.ok(r.body.findings.some((f) => ['duplicate', 'unused'].includes(f.check) && JSON.stringify(f.evidence).includes('orders_')), 'the duplicate indexes are found')
    t.ok(r.body.actions.length > 0 && r.body.actions.every((a) => a.outcome === 'planned'), 'planned only: the sandbox runs in dry-run')
  })

  t.test('Redis daily: primary and replica reached, the fragmentation seen', async (t) => {
    const r = await request(DEMO_REDIS.name, 'daily')
    t.equal(r.status, 200)
    t.ok(r.body.findings.some((f) => f.check === 'replication' || JSON.stringify(f.evidence).includes('replica')), 'the replica is checked')
    t.ok(r.body.findings.some((f) => f.check === 'fragmentation' && f.severity === 'warning'), 'memory fragmentation is reported')
  })
}
