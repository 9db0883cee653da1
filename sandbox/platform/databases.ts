import { randomBytes } from 'node:crypto'
import { createConnection } from 'node:net'
import type { Target } from '../../functions/maintain-databases/config.ts'
import { findProgram, missingProgramMessage } from '../../shared/process/programs.ts'
import { findPostgresBinDir, postgresMissingMessage } from '../../shared/postgres/throwaway.ts'
import { startPostgres, type PostgresServer } from '../harness/postgres.ts'
import { startRedis, type RedisServer } from '../harness/redis.ts'

/**
 * The demo platform's databases, for maintain-databases: a real PostgreSQL
 * and a real Redis primary with its replica, each with something the
 * runbooks look for (a table mostly dead tuples, an unused and a duplicate
 * index, slow statements; fragmented Redis memory and a slow log), their
 * credentials in the demo Vault where the rotate-secret runbook keeps them.
 * A server that is not installed is left out, and `missing` says why.
 */
export interface DemoDatabases {
  /** maintain-databases' targets for what runs. */
  readonly targets: Target[]
  /** Thresholds scaled to servers this small (the shipped ones suit production sizes). */
  readonly thresholds: { fragmentationBytesMin: number }
  /** What is left out and how to get it (an install command per missing server). */
  readonly missing: string[]
  readonly postgres?: PostgresServer
  readonly redis?: RedisServer
  close(): Promise<void>
}

export interface DemoDatabaseVault {
  putSecret(mount: string, path: string, data: Record<string, string>): unknown
}

export const DEMO_POSTGRES = { name: 'app-postgres', vaultPath: 'databases/app-postgres', database: 'app' } as const
export const DEMO_REDIS = { name: 'cache', vaultPath: 'databases/cache' } as const

const password = () => randomBytes(18).toString('base64url')

async function seedPostgres(server: PostgresServer): Promise<void> {
  await server.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
  await server.query(`CREATE DATABASE ${DEMO_POSTGRES.database}`)
  const app = (sql: string) => server.query(sql, [], DEMO_POSTGRES.database)
  await app('CREATE TABLE orders (id serial PRIMARY KEY, note text, amount int)')
  await app("INSERT INTO orders (note, amount) SELECT 'order ' || g, g FROM generate_series(1, 5000) g")
  // An index no query uses, and two that duplicate each other.
  await app('CREATE INDEX orders_note_unused ON orders (note)')
  await app('CREATE INDEX orders_amount_a ON orders (amount)')
  await app('CREATE INDEX orders_amount_b ON orders (amount)')
  // A table that is mostly dead tuples (autovacuum is off on it, as on a table someone tuned and forgot).
  await app('CREATE TABLE events (id serial PRIMARY KEY, payload text) WITH (autovacuum_enabled = false)')
  await app("INSERT INTO events (payload) SELECT repeat('x', 100) FROM generate_series(1, 20000)")
  await app('DELETE FROM events WHERE id % 10 <> 0')
  // Statements slow enough for the slow-queries check at the shipped threshold.
  for (let i = 0; i < 2; i++) await app('SELECT pg_sleep(0.6)')
  await app('SELECT pg_stat_force_next_flush()')
}

async function seedRedis(server: RedisServer, secret: string): Promise<void> {
  // Plain RESP over a socket: the sandbox needs no Redis client for a few commands.
  const socket = createConnection({ host: server.host, port: server.port })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`
  const lines: string[] = [command('AUTH', secret), command('CONFIG', 'SET', 'slowlog-log-slower-than', '0')]
  // Fragmentation for real: many small values, then most of them deleted.
  for (let i = 0; i < 100_000; i++) lines.push(command('SET', `frag:${i}`, 'v'.repeat(200 + (i % 50))))
  for (let i = 0; i < 100_000; i++) if (i % 10 !== 0) lines.push(command('DEL', `frag:${i}`))
  lines.push(command('PING'))
  let seen = ''
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString('latin1')).slice(-64)
      if (seen.endsWith('+PONG\r\n')) resolve()
    })
    socket.once('error', reject)
  })
  socket.write(lines.join(''))
  await done
  socket.end()
}

export async function startDemoDatabases(vault: DemoDatabaseVault): Promise<DemoDatabases> {
  const missing: string[] = []
  const targets: Target[] = []
  let postgres: PostgresServer | undefined
  let redis: RedisServer | undefined
  const close = async () => {
    await postgres?.stop()
    await redis?.stop()
  }
  try {
    const [pg, rd] = await Promise.all([
      (async () => {
        if (!findPostgresBinDir()) {
          missing.push(postgresMissingMessage())
          return undefined
        }
        const secret = password()
        const server = await startPostgres({ password: secret, settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } })
        postgres = server
        await seedPostgres(server)
        vault.putSecret('secret', DEMO_POSTGRES.vaultPath, { username: server.user, password: secret })
        return server
      })(),
      (async () => {
        if (!findProgram('redis-server', { packageName: 'redis-server' })) {
          missing.push(missingProgramMessage('redis-server', 'redis-server'))
          return undefined
        }
        const secret = password()
        const server = await startRedis({ password: secret, replica: true })
        redis = server
        await seedRedis(server, secret)
        vault.putSecret('secret', DEMO_REDIS.vaultPath, { password: secret })
        return server
      })(),
    ])
    if (pg) {
      targets.push({
        name: DEMO_POSTGRES.name, kind: 'postgres', host: pg.host, port: pg.port, database: 'postgres',
        credentials: { mount: 'secret', path: DEMO_POSTGRES.vaultPath, usernameKey: 'username', passwordKey: 'password' },
        memoryBytes: 2 * 1024 ** 3,
        maintenance: { lockTimeout: '5s', statementTimeout: '5m', vacuumFull: [] },
      })
    }
    if (rd) {
      targets.push({
        name: DEMO_REDIS.name, kind: 'redis',
        nodes: [{ host: rd.host, port: rd.port }, ...(rd.replica ? [{ host: rd.host, port: rd.replica.port }] : [])],
        credentials: { mount: 'secret', path: DEMO_REDIS.vaultPath, usernameKey: 'username', passwordKey: 'password' },
      })
    }
    return { targets, missing, thresholds: { fragmentationBytesMin: 8 * 1024 * 1024 }, ...(postgres ? { postgres } : {}), ...(redis ? { redis } : {}), close }
  } catch (err) {
    await close()
    throw err
  }
}
