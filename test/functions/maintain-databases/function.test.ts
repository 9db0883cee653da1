import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import pg from 'pg'
import { Redis } from 'ioredis'
import maintainDatabases from '../../../functions/maintain-databases/index.ts'
import { configSchema, type MaintainDatabasesConfig } from '../../../functions/maintain-databases/config.ts'
import { Report } from '../../../functions/maintain-databases/findings.ts'
import { runPostgres } from '../../../functions/maintain-databases/postgres.ts'
import { runRedis } from '../../../functions/maintain-databases/redis.ts'
import { validateConfig } from '../../../shared/config.ts'
import { freePort } from '../../../shared/process/ports.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { postgresSkipReason, startPostgres } from '../../../sandbox/harness/postgres.ts'
import { redisSkipReason, startRedis } from '../../../sandbox/harness/redis.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// maintain-databases against a throwaway PostgreSQL (pg_stat_statements
// preloaded) and a throwaway Redis primary with a replica, seeded with the
// problems the runbooks look for; credentials come from the Vault simulator.

const skip = postgresSkipReason() || redisSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const PG_PASSWORD = 'pg-admin-Zq7!secret-value'
  const REDIS_PASSWORD = 'redis-Kx9-secret-value'
  const server = await startPostgres({ password: PG_PASSWORD, settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', autovacuum: false } })
  t.teardown(() => server.stop())
  const redis = await startRedis({ password: REDIS_PASSWORD, replica: true })
  t.teardown(() => redis.stop())
  const vault = await startVaultSimulator()
  t.teardown(() => vault.close())
  vault.putSecret('secret', 'databases/app-postgres', { username: 'postgres', password: PG_PASSWORD })
  vault.putSecret('secret', 'databases/cache', { password: REDIS_PASSWORD })

  // The seeded workload.
  await server.query('CREATE EXTENSION pg_stat_statements')
  await server.query('CREATE DATABASE app')
  const app = (sql: string) => server.query(sql, [], 'app')
  await app('CREATE TABLE orders (id serial PRIMARY KEY, note text, amount int)')
  await app("INSERT INTO orders (note, amount) SELECT 'n' || g, g FROM generate_series(1, 5000) g")
  await app('CREATE INDEX orders_note_unused ON orders (note)')
  await app('CREATE INDEX orders_amount_a ON orders (amount)')
  await app('CREATE INDEX orders_amount_b ON orders (amount)')
  await app('CREATE TABLE events (id serial PRIMARY KEY, payload text)')
  await app("INSERT INTO events (payload) SELECT repeat('x', 100) FROM generate_series(1, 20000)")
  await app('DELETE FROM events WHERE id % 10 <> 0')
  await app('CREATE TABLE locked_table (id int)')
  await app('CREATE TABLE untouched (id int)')
  for (let i = 0; i < 3; i++) await app('SELECT pg_sleep(0.25)')
  await app('SELECT pg_stat_force_next_flush()')
  // A session idle in a transaction, and one holding a lock VACUUM needs.
  const idle = new pg.Client({ host: server.host, port: server.port, user: 'postgres', password: PG_PASSWORD, database: 'app', application_name: 'forgotten-job' })
  await idle.connect()
  await idle.query('BEGIN')
  await idle.query('SELECT count(*) FROM orders')
  const locker = new pg.Client({ host: server.host, port: server.port, user: 'postgres', password: PG_PASSWORD, database: 'app', application_name: 'locker' })
  await locker.connect()
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE locked_table IN ACCESS EXCLUSIVE MODE')
  t.teardown(async () => { await idle.end().catch(() => undefined); await locker.end().catch(() => undefined) })

  const primary = new Redis({ port: redis.port, password: REDIS_PASSWORD, lazyConnect: true })
  await primary.connect()
  t.teardown(() => primary.disconnect())
  // Fragmentation, for real: many small values, then most of them deleted.
  for (let batch = 0; batch < 20; batch++) {
    const p = primary.pipeline()
    for (let i = 0; i < 10_000; i++) p.set(`frag:${batch}:${i}`, 'v'.repeat(200 + (i % 50)))
    await p.exec()
  }
  for (let batch = 0; batch < 20; batch++) {
    const p = primary.pipeline()
    for (let i = 0; i < 10_000; i++) if (i % 10 !== 0) p.del(`frag:${batch}:${i}`)
    await p.exec()
  }
  await primary.config('SET', 'slowlog-log-slower-than', '0')
  for (let i = 0; i < 50; i++) await primary.set(`session:${i}`, 'x'.repeat(1000))

  const deadPort = await freePort()
  const config: MaintainDatabasesConfig = validateConfig({
    targets: [
      { name: 'app-postgres', kind: 'postgres', host: '127.0.0.1', port: server.port, credentials: { path: 'databases/app-postgres' }, memoryBytes: 8 * 1024 ** 3, maintenance: { lockTimeout: '300ms' } },
      { name: 'cache', kind: 'redis', nodes: [{ host: '127.0.0.1', port: redis.port }, { host: '127.0.0.1', port: redis.replica!.port }], credentials: { path: 'databases/cache' } },
      { name: 'gone-postgres', kind: 'postgres', host: '127.0.0.1', port: deadPort, credentials: { path: 'databases/app-postgres' } },
      { name: 'gone-redis', kind: 'redis', nodes: [{ host: '127.0.0.1', port: deadPort }] },
    ],
    // Thresholds low enough that this small instance shows each problem.
    thresholds: { slowMeanMs: 200, idleInTransactionSeconds: 1, deadTuplesMin: 1000, deadTupleRatio: 0.5, fragmentationRatio: 1.4, fragmentationBytesMin: 10 * 1024 * 1024 },
  }, configSchema, 'test')

  const sink = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => sink.close())
  const fn = await startTestFunction(maintainDatabases, { config, env: { VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken, CARETAKER_DRY_RUN: 'false', K_SINK: sink.url } })
  t.teardown(() => fn.stop())
  const replies: string[] = []
  const request = async (target: string, task: string, extra: Record<string, string> = {}) => {
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.database.maintenance.requested', extra), body: JSON.stringify({ target, task }) })
    const text = await res.text()
    replies.push(text)
    return { status: res.status, type: res.headers.get('ce-type'), body: JSON.parse(text) as { status: string; findings: Array<{ task: string; check: string; severity: string; message: string; evidence: Record<string, unknown> }>; actions: Array<{ action: string; target: string; outcome: string; reason?: string }>; error?: string; message?: string } }
  }
  const find = (r: Awaited<ReturnType<typeof request>>, check: string) => r.body.findings.filter((f) => f.check === check)
  await sleep(1200) // the idle transaction passes its threshold

  t.test('PostgreSQL daily: health, sizes, connections, slow statements', async (t) => {
    const r = await request('app-postgres', 'daily')
    t.equal(r.status, 200)
    t.equal(r.type, 'dev.caretaker.database.reported')
    t.match(find(r, 'connect')[0], { severity: 'ok', evidence: { inRecovery: false } })
    t.ok((find(r, 'databases')[0]?.evidence.databases as Record<string, number>).app! > 0, 'database sizes')
    t.match(find(r, 'largest-relations').find((f) => f.evidence.database === 'app')?.evidence, { relations: [{ name: 'public.orders', kind: 'table' }] }, 'the largest relations of app (from the catalogue: no lock taken)')
    const idleFinding = find(r, 'idle-in-transaction')
    t.same(idleFinding.map((f) => f.evidence.application).sort(), ['forgotten-job', 'locker'], 'the sessions idle in a transaction are named (the lock holder is one)')
    t.ok(idleFinding.every((f) => f.severity === 'warning' && f.evidence.database === 'app'))
    const slow = find(r, 'slowest-statements')[0]
    t.equal(slow?.severity, 'warning')
    t.match(slow?.message, /statement\(s\) take over \d+ ms on average; slowest: /, 'the slowest statement is named')
    // On a busy machine a setup statement (CREATE DATABASE) may be slower still: pg_sleep need only be among the slow ones.
    t.ok((slow?.evidence.byMean as Array<{ query: string; meanMs: number }>).some((q) => /pg_sleep/.test(q.query) && q.meanMs >= 200), 'the slow statement is listed with its mean')
    t.equal(r.body.status, 'warning')
    const degraded = sink.requests.filter((q) => q.headers['ce-type'] === 'dev.caretaker.database.degraded')
    t.equal(degraded.length, 1, 'a degradation was raised for notify and respond-to-alert')
  })

  t.test('PostgreSQL weekly in dry-run: the plan, nothing changed', async (t) => {
    const r = await request('app-postgres', 'weekly', { 'ce-dryrun': 'true' })
    t.ok(r.body.actions.length > 0)
    t.ok(r.body.actions.every((a) => a.outcome === 'planned'), 'every action only planned')
    const stats = await server.query<{ last_analyze: Date | null; last_vacuum: Date | null }>("SELECT last_analyze, last_vacuum FROM pg_stat_user_tables WHERE relname = 'untouched'", [], 'app')
    t.same(stats.rows[0], { last_analyze: null, last_vacuum: null }, 'no ANALYZE or VACUUM ran')
  })

  t.test('PostgreSQL weekly: bloat, indexes, ANALYZE and VACUUM (ANALYZE) skipping a locked table', async (t) => {
    const r = await request('app-postgres', 'weekly')
    t.match(find(r, 'dead-tuples'), [{ evidence: { table: 'public.events', database: 'app' } }], 'the bloated table after mass deletes')
    t.ok(find(r, 'unused').some((f) => f.evidence.index === 'public.orders_note_unused'), 'the unused index')
    t.ok(find(r, 'duplicate').some((f) => (f.evidence.indexes as string[]).join() === 'orders_amount_a,orders_amount_b'), 'the duplicate indexes')
    t.match(r.body.actions.find((a) => a.action === 'ANALYZE' && a.target === 'app.public.orders'), { outcome: 'done' }, 'ANALYZE ran per table')
    const vacuum = r.body.actions.filter((a) => a.action === 'VACUUM (ANALYZE)')
    t.match(vacuum.find((a) => a.target === 'app.public.locked_table'), { outcome: 'skipped', reason: /lock/ }, 'the locked table is skipped, not waited for')
    t.match(vacuum.find((a) => a.target === 'app.public.events'), { outcome: 'done' }, 'the others are vacuumed')
    t.ok(find(r, 'lock-unavailable').length >= 1, 'and the skip is a finding')
    const stats = await server.query<{ last_vacuum: Date | null }>("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'untouched'", [], 'app')
    t.ok(stats.rows[0]?.last_vacuum, 'VACUUM really ran')
    t.notOk(r.body.actions.some((a) => /FULL/.test(a.action)), 'no VACUUM FULL without a policy')
  })

  t.test('PostgreSQL monthly: the settings review against the server\'s memory', async (t) => {
    const r = await request('app-postgres', 'monthly')
    t.match(find(r, 'shared_buffers')[0], { severity: 'warning', message: /shared_buffers is 0% of the server's memory/ }, '32 MB of shared_buffers on an 8 GiB server')
    t.ok(find(r, 'effective_cache_size').length === 1)
  })

  t.test('Redis in dry-run: the plan, nothing changed', async (t) => {
    const slowBefore = Number(await primary.call('SLOWLOG', 'LEN'))
    const saveBefore = Number(await primary.lastsave())
    const daily = await request('cache', 'daily', { 'ce-dryrun': 'true' })
    t.ok(daily.body.actions.some((a) => a.action === 'SLOWLOG RESET' && a.outcome === 'planned'))
    t.ok(Number(await primary.call('SLOWLOG', 'LEN')) >= slowBefore, 'the slowlog was not reset')
    const weekly = await request('cache', 'weekly', { 'ce-dryrun': 'true' })
    t.ok(weekly.body.actions.filter((a) => a.action === 'BGSAVE' || a.action === 'MEMORY PURGE').every((a) => a.outcome === 'planned'))
    t.equal(Number(await primary.lastsave()), saveBefore, 'no background save ran')
  })

  t.test('Redis daily: every node, fragmentation, clients, slowlog read then reset', async (t) => {
    const r = await request('cache', 'daily')
    const pings = find(r, 'ping')
    t.equal(pings.length, 2, 'primary and replica')
    t.match(pings.map((p) => p.evidence.role).sort(), ['master', 'slave'])
    t.equal(find(r, 'fragmentation').length, 2)
    const fragmented = find(r, 'fragmentation').find((f) => f.evidence.fragmentationBytes as number > 10 * 1024 * 1024)
    t.equal(fragmented?.severity, 'warning', `the fragmented primary is a warning (${fragmented?.message})`)
    t.match(find(r, 'clients'), [{ evidence: { connected: Number, blocked: 0, biggestBuffers: Array } }, { evidence: { connected: Number } }], 'clients on each node')
    t.ok((find(r, 'entries')[0]?.evidence.entries as unknown[]).length > 0, 'slowlog entries reported')
    t.ok(r.body.actions.some((a) => a.action === 'SLOWLOG RESET' && a.outcome === 'done'))
    t.equal(Number(await primary.call('SLOWLOG', 'LEN')) <= 2, true, 'the slowlog was reset: the next report holds only new entries')
  })

  t.test('Redis weekly: MEMORY PURGE where called for, BGSAVE waited for', async (t) => {
    await sleep(1100) // LASTSAVE has a resolution of a second
    const before = Number(await primary.lastsave())
    const r = await request('cache', 'weekly')
    t.match(r.body.actions.find((a) => a.action === 'BGSAVE'), { outcome: 'done' })
    t.ok(Number(await primary.lastsave()) > before, 'LASTSAVE moved')
    t.ok(r.body.actions.some((a) => a.action === 'MEMORY PURGE' && a.outcome === 'done'), 'jemalloc and the ratio call for MEMORY PURGE')
  })

  t.test('a down target is a finding, not a crash', async (t) => {
    for (const target of ['gone-postgres', 'gone-redis']) {
      const r = await request(target, 'daily')
      t.equal(r.status, 200, `${target}: reported`)
      t.equal(r.body.status, 'critical')
      t.match(find(r, 'connect')[0]?.message, /cannot (connect|reach)/)
    }
  })

  t.test('bad requests are 400s', async (t) => {
    const unknown = await request('nope', 'daily')
    t.equal(unknown.status, 400)
    t.match(unknown.body.message, /no database target named "nope"/)
    const wrongTask = await request('cache', 'vacuum-analyze')
    t.equal(wrongTask.status, 400)
    t.match(wrongTask.body.message, /does not apply to redis target cache/)
  })

  t.test('a scheduled tick runs every target and reports each', async (t) => {
    const before = sink.requests.length
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.knative.sources.ping', { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/maintain-databases-daily' }), body: '{}' })
    const body = await res.json() as { schedule: string; targets: Array<{ target: string; status: string }> }
    replies.push(JSON.stringify(body))
    t.equal(res.headers.get('ce-type'), 'dev.caretaker.database.maintenance.completed')
    t.equal(body.schedule, 'daily')
    t.same(body.targets.map((x) => x.target), ['app-postgres', 'cache', 'gone-postgres', 'gone-redis'])
    const reports = sink.requests.slice(before).filter((q) => q.headers['ce-type'] === 'dev.caretaker.database.reported')
    t.equal(reports.length, 4, 'one report per target')
  })

  t.test('past the run\'s deadline nothing starts, and each task left is reported for the next run', async (t) => {
    const pgTarget = config.targets.find((x) => x.name === 'app-postgres')!
    const redisTarget = config.targets.find((x) => x.name === 'cache')!
    const report = new Report()
    const spent = Date.now() - 1
    const before = await server.query<{ last_analyze: Date | null }>("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'orders'", [], 'app')
    if (pgTarget.kind !== 'postgres' || redisTarget.kind !== 'redis') throw new Error('the test config changed')
    await runPostgres({ target: pgTarget, user: 'postgres', password: PG_PASSWORD, thresholds: config.thresholds, dryRun: false, now: new Date(), report, signal: new AbortController().signal, deadline: spent }, ['analyze', 'vacuum-analyze'])
    await runRedis({ target: redisTarget, username: undefined, password: REDIS_PASSWORD, thresholds: config.thresholds, dryRun: false, report, signal: new AbortController().signal, deadline: spent }, ['memory-purge'])
    t.same(report.findings.filter((f) => f.check === 'deadline').map((f) => f.task), ['analyze', 'vacuum-analyze', 'memory-purge'])
    t.ok(report.findings.filter((f) => f.check === 'deadline').every((f) => f.severity === 'info' && /deadline is reached: left for the next run/.test(f.message)))
    t.same(report.actions, [], 'nothing was done')
    const after = await server.query<{ last_analyze: Date | null }>("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'orders'", [], 'app')
    t.same(after.rows, before.rows, 'no ANALYZE ran')
  })

  t.test('no password anywhere', async (t) => {
    const metrics = await (await fetch(`${fn.url}/metrics`)).text()
    t.match(metrics, /caretaker_database_size_bytes\{target="app-postgres",database="app"\} \d+/, 'the metrics are there')
    const everything = [fn.logText(), ...replies, ...sink.requests.map((r) => r.body.toString('utf8')), metrics].join('\n')
    for (const secret of [PG_PASSWORD, REDIS_PASSWORD]) t.notOk(everything.includes(secret), 'not in a log line, reply, emitted event or metric')
  })
}
