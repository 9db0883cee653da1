import { existsSync, statSync } from 'node:fs'
import pg from 'pg'
import t from 'tap'
import { acceptsConnections } from '../../sandbox/harness/ports.ts'
import { postgresSkipReason, startPostgres } from '../../sandbox/harness/postgres.ts'

const skip = postgresSkipReason()

t.test('a throwaway PostgreSQL stores and returns rows, and is gone after stop()', { skip }, async (t) => {
  const server = await startPostgres({ database: 'caretaker' })
  t.teardown(() => server.stop())
  t.equal(server.host, '127.0.0.1')
  t.equal(server.database, 'caretaker')
  t.equal(server.connectionString, `postgresql://postgres@127.0.0.1:${server.port}/caretaker`)
  t.ok(statSync(server.dataDir).isDirectory(), 'the data directory exists while it runs')

  const client = new pg.Client({ connectionString: server.connectionString })
  await client.connect()
  try {
    await client.query('CREATE TABLE backups (id serial PRIMARY KEY, name text NOT NULL, size bigint NOT NULL)')
    await client.query('INSERT INTO backups (name, size) VALUES ($1, $2), ($3, $4)', ['daily', 1024, 'weekly', 4096])
    const { rows } = await client.query<{ name: string; size: string }>('SELECT name, size FROM backups ORDER BY id')
    t.same(rows, [{ name: 'daily', size: '1024' }, { name: 'weekly', size: '4096' }])
    const { rows: [settings] } = await client.query<{ fsync: string; listen: string }>(
      "SELECT current_setting('fsync') AS fsync, current_setting('listen_addresses') AS listen")
    t.same(settings, { fsync: 'off', listen: '127.0.0.1' }, 'tuned for speed, loopback only')
  } finally {
    await client.end()
  }
  const viaHelper = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM backups')
  t.equal(viaHelper.rows[0]?.n, 2, 'the query helper reaches the same database')

  await server.stop()
  t.notOk(existsSync(server.dataDir), 'the data directory is removed')
  t.equal(await acceptsConnections(server.port), false, 'the port no longer accepts connections')
  await server.stop()
  t.pass('stop() is idempotent')
  await t.rejects(server.query('SELECT 1'), /stopped/)
})

t.test('two servers at once get different ports and data', { skip }, async (t) => {
  const [a, b] = await Promise.all([startPostgres(), startPostgres()])
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  t.not(a.port, b.port)
  t.not(a.dataDir, b.dataDir)
  await a.query('CREATE TABLE only_in_a (x int)')
  const inB = await b.query<{ t: string | null }>("SELECT to_regclass('only_in_a')::text AS t")
  t.equal(inB.rows[0]?.t, null, 'a table made in one is not in the other')
})

t.test('with a password, TCP connections must give it', { skip }, async (t) => {
  const server = await startPostgres({ user: 'caretaker', password: 'p@ss:word' })
  t.teardown(() => server.stop())
  t.equal(server.password, 'p@ss:word')
  const good = new pg.Client({ connectionString: server.connectionString })
  await good.connect()
  const { rows } = await good.query<{ u: string }>('SELECT current_user AS u')
  t.equal(rows[0]?.u, 'caretaker', 'the connection string carries user and password')
  await good.end()

  const bad = new pg.Client({ host: server.host, port: server.port, user: 'caretaker', password: 'wrong', database: 'postgres' })
  await t.rejects(bad.connect(), /password authentication failed/)
  await bad.end().catch(() => undefined)
})
