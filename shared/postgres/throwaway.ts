import { execFileSync } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import { loadPg } from '../drivers.ts'
import { cleanUpAtExit, runCommand, startDaemon, type Daemon, type DaemonOptions } from '../process/daemon.ts'
import { freePort } from '../process/ports.ts'
import { findProgram, isExecutableFile, missingProgramMessage } from '../process/programs.ts'

/**
 * A throwaway PostgreSQL server: a fresh cluster in a temporary directory,
 * on a free loopback port, tuned for speed over durability, removed on
 * stop. verify-backup restores dumps into one; the tests use it too.
 */
export interface ThrowawayPostgresOptions {
  /** The directory holding initdb, postgres and psql (found when absent). */
  binDir?: string
  /** The superuser's name (default postgres). */
  user?: string
  /** When set, TCP connections must give it (scram-sha-256); otherwise trust. */
  password?: string
  /** A database to create and connect to (default postgres). */
  database?: string
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string | number | boolean>
  /** How long to wait for the server to accept connections (default 30 s). */
  startTimeoutMs?: number
  /** Where the temporary directory goes (the OS temp dir by default). */
  parentDir?: string
}

export interface ThrowawayPostgres {
  host: string
  port: number
  user: string
  password?: string
  database: string
  connectionString: string
  /** The programs of this server's version (initdb, postgres, psql, pg_dumpall…). */
  binDir: string
  dataDir: string
  socketDir: string
  /** One query on a connection of its own to `database` (or another). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], database?: string): Promise<pg.QueryResult<R>>
  /** What the server has logged (for failure messages). */
  logs(): string
  /** Fast shutdown, then the temporary directory is removed. Idempotent. */
  stop(): Promise<void>
}

const packageName = 'postgresql'

/** The directory of initdb and its sibling programs, or undefined when PostgreSQL is not installed. */
export function findPostgresBinDir(binDir?: string): string | undefined {
  if (binDir) return isExecutableFile(join(binDir, 'initdb')) ? binDir : undefined
  const initdb = findProgram('initdb', { packageName })
  return initdb ? dirname(realpathSync(initdb)) : undefined
}

export function postgresMissingMessage(binDir?: string): string {
  return binDir ? `no PostgreSQL server programs in ${binDir}` : missingProgramMessage('initdb', packageName)
}

/** PostgreSQL refuses to run as root: then it runs as the postgres system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return { uid, gid }
  } catch {
    throw new Error('PostgreSQL cannot run as root and there is no postgres user; install it with: apt-get install -y postgresql')
  }
}

function settingValue(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  return String(value)
}

/**
 * initdb once per process and settings, then copy: a fresh cluster costs a
 * copy of ~40 MB instead of an initdb (about 0.4 s). The template lives in
 * the temp directory of this process, owned like the clusters made from it.
 */
const templates = new Map<string, Promise<string>>()
let templateRoot: string | undefined
let cancelTemplateCleanup: (() => void) | undefined
let templateCount = 0

async function initCluster(initdb: string, initArgs: string[], dataDir: string, run: DaemonOptions): Promise<void> {
  const key = JSON.stringify([initdb, initArgs.slice(2), run.uid ?? null])
  let template = templates.get(key)
  if (!template) {
    template = (async () => {
      if (!templateRoot) {
        templateRoot = await mkdtemp(join(tmpdir(), 'caretaker-pg-templates-'))
        const rootDir = templateRoot
        cancelTemplateCleanup = cleanUpAtExit(() => [], [rootDir])
        if (run.uid !== undefined) await chown(rootDir, run.uid, run.gid ?? run.uid)
      }
      const dir = join(templateRoot, String(templateCount++))
      await runCommand(initdb, ['-D', dir, ...initArgs.slice(2)], { ...run, cwd: templateRoot })
      return dir
    })()
    templates.set(key, template)
    template.catch(() => templates.delete(key))
  }
  // cp -a as the server's user keeps the ownership and 0700 PostgreSQL insists on.
  await runCommand('cp', ['-a', await template, dataDir], run)
}

/** Remove the initdb templates now (they are removed at exit otherwise). */
export async function removePostgresTemplates(): Promise<void> {
  const dir = templateRoot
  templateRoot = undefined
  templates.clear()
  cancelTemplateCleanup?.()
  if (dir) await rm(dir, { recursive: true, force: true })
}

export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const binDir = findPostgresBinDir(options.binDir)
  if (!binDir) throw new Error(postgresMissingMessage(options.binDir))
  const initdb = join(binDir, 'initdb')
  const postgres = join(binDir, 'postgres')
  const user = options.user ?? 'postgres'
  const database = options.database ?? 'postgres'
  const host = '127.0.0.1'
  const owner = serverUser()
  const baseDir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'caretaker-pg-'))
  const dataDir = join(baseDir, 'data')
  const socketDir = baseDir
  let daemon: Daemon | undefined
  const cancelExitHook = cleanUpAtExit(() => (daemon ? [daemon] : []), [baseDir])
  const run: DaemonOptions = {
    cwd: baseDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' },
    ...(owner ?? {}),
  }

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // SIGQUIT is PostgreSQL's immediate shutdown: no shutdown checkpoint
      // writing out data that is about to be deleted anyway.
      if (daemon) await daemon.stop('SIGQUIT', 15_000)
      await rm(baseDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
      cancelExitHook()
    })()
    return stopping
  }

  try {
    if (owner) await chown(baseDir, owner.uid, owner.gid)
    const initArgs = [
      '-D', dataDir, '-U', user, '-E', 'UTF8', '--locale=C',
      '--auth-local=trust', `--auth-host=${options.password === undefined ? 'trust' : 'scram-sha-256'}`,
      '--no-sync', '--no-instructions',
    ]
    if (options.password !== undefined) {
      const pwfile = join(baseDir, 'pwfile')
      await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 })
      if (owner) await chown(pwfile, owner.uid, owner.gid)
      initArgs.push(`--pwfile=${pwfile}`)
      await runCommand(initdb, initArgs, run)
      await rm(pwfile, { force: true })
    } else {
      await initCluster(initdb, initArgs, dataDir, run)
    }

    const settings: Record<string, string | number | boolean> = {
      // pg_hba.conf from initdb admits loopback addresses only; listen there too.
      listen_addresses: host,
      unix_socket_directories: socketDir,
      fsync: false,
      synchronous_commit: false,
      full_page_writes: false,
      shared_buffers: '32MB',
      max_connections: 50,
      jit: false,
      logging_collector: false,
      ...options.settings,
    }
    const settingArgs = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${settingValue(v)}`])
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000)

    for (let attempt = 1; ; attempt++) {
      const port = await freePort(host)
      // Orphaned, an immediate shutdown: nothing of a throwaway server is worth a checkpoint.
      daemon = startDaemon(postgres, ['-D', dataDir, '-p', String(port), ...settingArgs], { ...run, orphanSignal: 'SIGQUIT' })
      const ready = await waitUntilReady(daemon, { host, port, user, password: options.password, deadline })
      if (ready === 'ready') {
        const connection = { host, port, user, password: options.password }
        if (database !== 'postgres') {
          const client = new (await loadPg()).Client({ ...connection, database: 'postgres' })
          await client.connect()
          try {
            await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`)
          } finally {
            await client.end()
          }
        }
        const auth = encodeURIComponent(user) + (options.password === undefined ? '' : `:${encodeURIComponent(options.password)}`)
        return {
          host, port, user, database, dataDir, socketDir, binDir,
          ...(options.password !== undefined ? { password: options.password } : {}),
          connectionString: `postgresql://${auth}@${host}:${port}/${encodeURIComponent(database)}`,
          async query<R extends pg.QueryResultRow>(text: string, values?: unknown[], db?: string) {
            if (stopping) throw new Error('the PostgreSQL server has been stopped')
            const client = new (await loadPg()).Client({ ...connection, database: db ?? database })
            client.on('error', () => undefined)
            await client.connect()
            try {
              return await client.query<R>(text, values)
            } finally {
              await client.end().catch(() => undefined)
            }
          },
          logs: () => daemon?.output() ?? '',
          stop,
        }
      }
      const output = daemon.output()
      if (ready === 'exited' && /address already in use/i.test(output) && attempt < 5) continue
      throw new Error(`PostgreSQL did not start (${ready === 'exited' ? 'it exited' : 'not ready in time'}):\n${output}`)
    }
  } catch (err) {
    await stop()
    throw err
  }
}

async function waitUntilReady(
  daemon: Daemon,
  target: { host: string; port: number; user: string; password: string | undefined; deadline: number },
): Promise<'ready' | 'exited' | 'timeout'> {
  while (Date.now() < target.deadline) {
    if (!daemon.running()) return 'exited'
    const client = new (await loadPg()).Client({
      host: target.host, port: target.port, user: target.user, database: 'postgres',
      connectionTimeoutMillis: 1000,
      ...(target.password !== undefined ? { password: target.password } : {}),
    })
    // A failed connection may still emit 'error' later; it is expected here.
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      return 'ready'
    } catch {
      await client.end().catch(() => undefined)
      await sleep(50)
    }
  }
  return daemon.running() ? 'timeout' : 'exited'
}
