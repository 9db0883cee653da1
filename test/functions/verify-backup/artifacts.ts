import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip, gzipSync, gunzipSync } from 'node:zlib'
import { Redis } from 'ioredis'
import { startThrowawayPostgres } from '../../../shared/postgres/throwaway.ts'
import { startEtcd } from '../../../sandbox/harness/etcd.ts'
import { startRedis } from '../../../sandbox/harness/redis.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

/**
 * Backup artifacts made by the real tools, the way the runbooks make them:
 * `pg_dumpall | gzip` from a throwaway PostgreSQL, `SAVE` of a throwaway
 * Redis, `etcdctl snapshot save` of a throwaway etcd, a raft snapshot from
 * the Vault simulator, `git bundle create` of a real repository. Built once
 * per test file into a temporary directory; tests copy and damage them.
 */
export interface RealArtifacts {
  root: string
  /** Good artifacts, one per format. */
  pgDump: string
  /** A pg_dumpall dump that gunzips fine but whose SQL fails half-way. */
  pgDumpBadSql: string
  etcdSnapshot: string
  redisRdb: string
  vaultSnapshot: string
  gitBundle: string
  cleanup(): Promise<void>
}

export const ORDERS = 250

/** The text of a `pg_dumpall` of a throwaway PostgreSQL with an `app` database holding ORDERS orders. */
export async function pgDumpall(): Promise<string> {
  const pg = await startThrowawayPostgres()
  try {
    await pg.query('CREATE ROLE app LOGIN')
    await pg.query('CREATE DATABASE app OWNER app')
    await pg.query('CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, placed timestamptz DEFAULT now())', [], 'app')
    await pg.query(`INSERT INTO orders (item) SELECT 'item-' || g FROM generate_series(1, ${ORDERS}) g`, [], 'app')
    return execFileSync(join(pg.binDir, 'pg_dumpall'), ['-h', pg.host, '-p', String(pg.port), '-U', pg.user], {
      encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' },
    })
  } finally {
    await pg.stop()
  }
}

export async function redisSave(target: string): Promise<void> {
  const server = await startRedis()
  try {
    const client = new Redis({ port: server.port, host: server.host, lazyConnect: true, maxRetriesPerRequest: 1 })
    await client.connect()
    for (let i = 0; i < 200; i++) await client.set(`session:${i}`, `value-${i}`.repeat(10))
    await client.hset('config', { mode: 'primary', shards: '3' })
    await client.save()
    const [, dir] = await client.config('GET', 'dir') as [string, string]
    const [, file] = await client.config('GET', 'dbfilename') as [string, string]
    client.disconnect()
    await copyFile(join(dir, file), target)
  } finally {
    await server.stop()
  }
}

export async function etcdSnapshot(target: string): Promise<void> {
  const etcd = await startEtcd()
  try {
    for (let i = 0; i < 50; i++) await etcd.etcdctl('put', `/registry/configmaps/production/cm-${i}`, `data-${i}`)
    await etcd.etcdctl('snapshot', 'save', target)
  } finally {
    await etcd.stop()
  }
}

export async function gitBundle(root: string, target: string): Promise<void> {
  const repo = join(root, 'repo')
  const git = (...args: string[]) => execFileSync('git', args, {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOME: root, GIT_AUTHOR_NAME: 'ops', GIT_AUTHOR_EMAIL: 'ops@example.org', GIT_COMMITTER_NAME: 'ops', GIT_COMMITTER_EMAIL: 'ops@example.org' },
  })
  await mkdir(repo)
  git('init', '-q', '-b', 'main')
  for (let i = 0; i < 5; i++) {
    await writeFile(join(repo, `runbook-${i}.md`), `# runbook ${i}\n`.repeat(20))
    git('add', '.')
    git('commit', '-q', '-m', `runbook ${i}`)
  }
  git('bundle', 'create', '-q', target, '--all')
}

async function gzipTo(text: string, target: string): Promise<void> {
  const gzip = createGzip()
  const done = pipeline(gzip, createWriteStream(target))
  gzip.end(text)
  await done
}

export async function buildRealArtifacts(): Promise<RealArtifacts> {
  const root = await mkdtemp(join(tmpdir(), 'caretaker-artifacts-'))
  const pgDump = join(root, 'all_databases.sql.gz')
  const pgDumpBadSql = join(root, 'all_databases_bad_sql.sql.gz')
  const etcdFile = join(root, 'etcd.db')
  const redisFile = join(root, 'dump.rdb')
  const vaultFile = join(root, 'vault.snap')
  const bundle = join(root, 'repos.bundle')
  const sql = await pgDumpall()
  await gzipTo(sql, pgDump)
  // The dump stays a complete pg_dumpall dump, gzip stays sound: only the SQL breaks.
  const broken = sql.replace(/^COPY public\.orders /m, 'INSERT INTO no_such_table VALUES (1);\nCOPY public.orders ')
  if (broken === sql) throw new Error('the dump has no COPY of public.orders to break')
  await gzipTo(broken, pgDumpBadSql)
  await Promise.all([redisSave(redisFile), etcdSnapshot(etcdFile), gitBundle(root, bundle)])
  const vault = await startVaultSimulator()
  try {
    for (let i = 0; i < 10; i++) vault.putSecret('secret', `apps/app-${i}`, { password: `p-${i}` })
    await writeFile(vaultFile, vault.snapshot())
  } finally {
    await vault.close()
  }
  return {
    root, pgDump, pgDumpBadSql, etcdSnapshot: etcdFile, redisRdb: redisFile, vaultSnapshot: vaultFile, gitBundle: bundle,
    cleanup: () => rm(root, { recursive: true, force: true }),
  }
}

/** Copy an artifact into a set directory under `name`, `ageMs` old. */
export async function place(source: string, dir: string, name: string, ageMs: number, now = Date.now()): Promise<string> {
  await mkdir(dir, { recursive: true })
  const target = join(dir, name)
  await copyFile(source, target)
  const when = new Date(now - ageMs)
  await utimes(target, when, when)
  return target
}

/** Damage a copy: flip one bit at `offset` (negative counts from the end). */
export async function flipByte(path: string, offset: number): Promise<void> {
  const data = await readFile(path)
  const at = offset < 0 ? data.length + offset : offset
  data[at] = data[at]! ^ 0x10
  await writeFile(path, data)
}

export async function truncate(path: string, keepFraction: number): Promise<void> {
  const data = await readFile(path)
  await writeFile(path, data.subarray(0, Math.floor(data.length * keepFraction)))
}

/** A sound gzip of a dump cut off half-way, as when pg_dumpall dies mid-dump. */
export async function incompleteDump(good: string, target: string): Promise<void> {
  const sql = gunzipSync(await readFile(good)).toString('utf8')
  await writeFile(target, gzipSync(sql.slice(0, Math.floor(sql.length / 2))))
}

/** Run a command line tool on a file and report whether it accepted it. */
export function toolAccepts(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore' })
    child.on('exit', (code) => resolve(code === 0))
    child.on('error', () => resolve(false))
  })
}
