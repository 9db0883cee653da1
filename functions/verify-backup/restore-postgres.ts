import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { loadPg } from '../../shared/drivers.ts'
import { parseDuration } from '../../shared/duration.ts'
import { findPostgresBinDir, postgresMissingMessage, startThrowawayPostgres, type ThrowawayPostgres } from '../../shared/postgres/throwaway.ts'
import type { Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { fail, pass, type FormatVerdict } from './formats/stream.ts'

/**
 * The PostgreSQL restore test: a throwaway server is started, the
 * pg_dumpall dump is streamed through gunzip into `psql` with
 * ON_ERROR_STOP, the databases the set names must exist and each sanity
 * query must return at least its minimum; then the server is discarded.
 * A dump whose SQL fails is a failed backup, reported with psql's first
 * error line. The whole test is bounded by the set's timeout.
 */

/**
 * The throwaway cluster's superuser. Not `postgres`: a pg_dumpall dump
 * creates the source cluster's roles, `postgres` among them, and that must
 * not collide with the restoring user.
 */
const RESTORE_SUPERUSER = 'caretaker_restore'
const STDERR_KEEP = 16 * 1024

/** psql's first error line, cut short: it names what failed, never pages of the dump's data. */
export function firstErrorLine(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => /\b(ERROR|FATAL|PANIC):/.test(l))?.trim()
  return line && line.length > 300 ? `${line.slice(0, 300)}…` : line
}

async function psqlRestore(server: ThrowawayPostgres, dump: string, signal: AbortSignal): Promise<{ ok: boolean; error?: string }> {
  const psql = spawn(join(server.binDir, 'psql'), [
    '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', server.host, '-p', String(server.port), '-U', server.user, '-d', 'postgres',
  ], { stdio: ['pipe', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', PGOPTIONS: '-c client_min_messages=error' } })
  let stderr = ''
  psql.stderr.on('data', (c: Buffer) => {
    if (stderr.length < STDERR_KEEP) stderr += c.toString('utf8')
  })
  const exited = new Promise<number | null>((resolve) => {
    psql.on('exit', (code) => resolve(code))
    psql.on('error', () => resolve(null))
  })
  const onAbort = (): void => { psql.kill('SIGKILL') }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    // psql stops reading at the first error (ON_ERROR_STOP): a broken pipe then is expected.
    await pipeline(createReadStream(dump), createGunzip(), psql.stdin).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err
    })
    const code = await exited
    if (signal.aborted) return { ok: false, error: 'timed out' }
    if (code === 0) return { ok: true }
    return { ok: false, error: firstErrorLine(stderr) ?? (stderr.trim().split('\n')[0] || `psql exited with code ${code}`) }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export async function restoreDump(artifact: Artifact, set: BackupSet, signal: AbortSignal, binDir?: string): Promise<FormatVerdict> {
  const test = set.restore!
  const timeoutMs = parseDuration(test.timeout) ?? 15 * 60_000
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
  const dir = findPostgresBinDir(binDir)
  if (!dir) return fail(`restore test cannot run: ${postgresMissingMessage(binDir)}`, {})
  const started = performance.now()
  let server: ThrowawayPostgres | undefined
  try {
    server = await startThrowawayPostgres({ binDir: dir, user: RESTORE_SUPERUSER })
    const restored = await psqlRestore(server, artifact.path, bounded)
    const restoreMs = Math.round(performance.now() - started)
    if (!restored.ok) {
      if (bounded.aborted && !signal.aborted) return fail(`restore did not finish within ${test.timeout}`, { timeout: test.timeout, restoreMs })
      if (signal.aborted) throw new Error('the restore test was interrupted by shutdown')
      return fail(`the dump does not restore: ${restored.error}`, { firstError: restored.error ?? null, restoreMs })
    }
    const existing = (await server.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname)
    const missing = test.databases.filter((d) => !existing.includes(d))
    if (missing.length > 0) {
      return fail(`restored, but database(s) ${missing.join(', ')} are missing`, { databases: existing, missing, restoreMs })
    }
    const results: Array<{ database: string; sql: string; value: number | null; min: number; ok: boolean }> = []
    for (const q of test.queries) {
      if (bounded.aborted) return fail(`sanity queries did not finish within ${test.timeout}`, { timeout: test.timeout })
      let value: number | null = null
      // Sanity queries only read: the session is read-only and bounded.
      const remaining = Math.max(1000, timeoutMs - (performance.now() - started))
      const client = new (await loadPg()).Client({
        host: server.host, port: server.port, user: server.user, database: q.database,
        options: `-c default_transaction_read_only=on -c statement_timeout=${Math.round(remaining)}`,
      })
      client.on('error', () => undefined)
      try {
        await client.connect()
        const res = await client.query<Record<string, unknown>>(q.sql)
        const first = res.rows[0] ? Object.values(res.rows[0])[0] : undefined
        value = first === undefined || first === null ? null : Number(first)
      } catch (err) {
        return fail(`sanity query in ${q.database} failed: ${(err as Error).message}`, { database: q.database, sql: q.sql, restoreMs })
      } finally {
        await client.end().catch(() => undefined)
      }
      const ok = value !== null && !Number.isNaN(value) && value >= q.min
      results.push({ database: q.database, sql: q.sql, value, min: q.min, ok })
      if (!ok) return fail(`sanity query in ${q.database} returned ${value}, below the minimum ${q.min}: ${q.sql}`, { queries: results, restoreMs })
    }
    return pass(`restored into a throwaway PostgreSQL in ${restoreMs} ms; ${test.databases.length} database(s) present, ${results.length} sanity quer${results.length === 1 ? 'y' : 'ies'} passed`, {
      databases: test.databases, queries: results, restoreMs,
    })
  } finally {
    await server?.stop()
  }
}
