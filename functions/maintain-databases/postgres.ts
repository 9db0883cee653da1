import pg from 'pg'
import { parseDuration } from '../../shared/duration.ts'
import type { PostgresTarget, Thresholds } from './config.ts'
import type { Report } from './findings.ts'
import { LEFT_AT_DEADLINE, pastDeadline, timeLeft } from '../../shared/deadline.ts'

/**
 * The PostgreSQL runbooks as queries on the statistics views, plus the
 * weekly ANALYZE / VACUUM (ANALYZE) per table with lock and statement
 * timeouts. Read-only unless a maintenance task runs outside dry-run;
 * never VACUUM FULL or REINDEX unless a policy names the table and its
 * window.
 */

export interface PostgresRun {
  readonly target: PostgresTarget
  readonly user: string
  /** Kept out of every message: only ever handed to the driver. */
  readonly password: string
  readonly thresholds: Thresholds
  readonly dryRun: boolean
  readonly now: Date
  readonly report: Report
  readonly signal: AbortSignal
  /** When the run must end (epoch ms; the handler context's): nothing starts past it, no statement outlasts it. */
  readonly deadline?: number
}

function client(run: PostgresRun, database: string, options = ''): pg.Client {
  const c = new pg.Client({
    host: run.target.host, port: run.target.port, user: run.user, password: run.password, database,
    connectionTimeoutMillis: 10_000, application_name: 'caretaker-maintain-databases',
    // Every session waits for a lock at most lock_timeout: a check must never queue behind
    // (and in front of) someone's exclusive lock.
    options: `-c statement_timeout=${Math.round(parseDuration(run.target.maintenance.statementTimeout)!)} -c lock_timeout=${Math.round(parseDuration(run.target.maintenance.lockTimeout)!)} ${options}`.trim(),
  })
  c.on('error', () => undefined)
  return c
}

async function withClient<T>(run: PostgresRun, database: string, fn: (c: pg.Client) => Promise<T>, options = ''): Promise<T> {
  const c = client(run, database, options)
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end().catch(() => undefined)
  }
}

/** pg's errors: the server's message and code, never the connection string. */
export function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return e.code ? `${e.message ?? 'error'} (SQLSTATE ${e.code})` : (e.message ?? String(err)).replace(/postgres(ql)?:\/\/\S+/g, '<connection>')
}

async function databases(c: pg.Client): Promise<string[]> {
  const res = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname')
  return res.rows.map((r) => r.datname)
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`

export const POSTGRES_TASKS: Record<string, (run: PostgresRun, c: pg.Client) => Promise<void>> = {
  async health(run, c) {
    const res = await c.query<{ recovery: boolean; version: string; lag: string | null }>(`SELECT pg_is_in_recovery() AS recovery, current_setting('server_version') AS version,
      CASE WHEN pg_is_in_recovery() THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::text END AS lag`)
    const r = res.rows[0]!
    const lag = r.lag === null ? null : Number(r.lag)
    run.report.find('health', 'connect', 'ok', `connected to PostgreSQL ${r.version}${r.recovery ? ' (a replica)' : ' (primary)'}`, { version: r.version, inRecovery: r.recovery, replicationLagSeconds: lag })
    if (lag !== null && lag > 300) run.report.find('health', 'replication-lag', 'warning', `the replica is ${Math.round(lag)} s behind its primary`, { replicationLagSeconds: lag })
  },

  async sizes(run, c) {
    const dbs = await c.query<{ datname: string; bytes: string }>('SELECT datname, pg_database_size(datname)::text AS bytes FROM pg_database WHERE NOT datistemplate ORDER BY pg_database_size(datname) DESC')
    run.report.find('sizes', 'databases', 'info', `${dbs.rows.length} databases, ${dbs.rows.reduce((s, r) => s + Number(r.bytes), 0)} bytes in all`, { databases: Object.fromEntries(dbs.rows.map((r) => [r.datname, Number(r.bytes)])) })
    for (const db of await databases(c)) {
      // From the catalogue's page counts (as of the last VACUUM/ANALYZE): no lock taken on any table.
      const rel = await withClient(run, db, (d) => d.query<{ name: string; kind: string; bytes: string }>(`SELECT n.nspname || '.' || c.relname AS name, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind,
          (c.relpages::bigint * current_setting('block_size')::bigint)::text AS bytes
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'i', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY c.relpages DESC, c.relname LIMIT 10`))
      if (rel.rows.length > 0) run.report.find('sizes', 'largest-relations', 'info', `largest in ${db}: ${rel.rows[0]!.name} (${rel.rows[0]!.bytes} bytes)`, { database: db, relations: rel.rows.map((r) => ({ name: r.name, kind: r.kind, bytes: Number(r.bytes) })) })
    }
  },

  async connections(run, c) {
    const byState = await c.query<{ state: string; wait: string | null; count: string }>(`SELECT coalesce(state, 'background') AS state, wait_event_type AS wait, count(*)::text AS count
      FROM pg_stat_activity GROUP BY 1, 2 ORDER BY 3 DESC`)
    const max = Number((await c.query<{ max: string }>("SELECT current_setting('max_connections') AS max")).rows[0]!.max)
    const total = byState.rows.filter((r) => r.state !== 'background').reduce((s, r) => s + Number(r.count), 0)
    const used = total / max
    run.report.find('connections', 'by-state', used > run.thresholds.connectionsUsedRatio ? 'warning' : 'info', `${total} of ${max} connections in use`, { maxConnections: max, byState: byState.rows.map((r) => ({ state: r.state, waitEventType: r.wait, count: Number(r.count) })) })
    const idle = await c.query<{ pid: number; usename: string; datname: string; application_name: string; seconds: string }>(`SELECT pid, usename, datname, application_name, EXTRACT(EPOCH FROM now() - state_change)::text AS seconds
      FROM pg_stat_activity WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND now() - state_change > make_interval(secs => $1) ORDER BY state_change`, [run.thresholds.idleInTransactionSeconds])
    for (const s of idle.rows) {
      run.report.find('connections', 'idle-in-transaction', 'warning', `session ${s.pid} (${s.usename}@${s.datname}, ${s.application_name || 'no application name'}) has been idle in a transaction for ${Math.round(Number(s.seconds))} s: it holds locks and blocks vacuum`, { pid: s.pid, user: s.usename, database: s.datname, application: s.application_name, idleSeconds: Math.round(Number(s.seconds)) })
    }
  },

  async 'slow-queries'(run, c) {
    const installed = await c.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if (installed.rowCount === 0) {
      run.report.find('slow-queries', 'pg_stat_statements', 'info', 'pg_stat_statements is not installed: the slowest statements cannot be listed (add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements)', {})
      return
    }
    const top = await c.query<{ query: string; calls: string; mean: string; total: string }>(`SELECT left(query, 300) AS query, calls::text, mean_exec_time::text AS mean, total_exec_time::text AS total
      FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY mean_exec_time DESC LIMIT 10`)
    const byTotal = await c.query<{ query: string; total: string }>(`SELECT left(query, 300) AS query, total_exec_time::text AS total FROM pg_stat_statements
      WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 5`)
    const slow = top.rows.filter((r) => Number(r.mean) >= run.thresholds.slowMeanMs)
    run.report.find('slow-queries', 'slowest-statements', slow.length > 0 ? 'warning' : 'ok',
      slow.length > 0 ? `${slow.length} statement(s) take over ${run.thresholds.slowMeanMs} ms on average; slowest: ${slow[0]!.query.slice(0, 80)} (${Math.round(Number(slow[0]!.mean))} ms)` : `no statement averages over ${run.thresholds.slowMeanMs} ms`,
      { slowCount: slow.length, byMean: top.rows.map((r) => ({ query: r.query, calls: Number(r.calls), meanMs: Number(Number(r.mean).toFixed(2)), totalMs: Number(Number(r.total).toFixed(2)) })), byTotal: byTotal.rows.map((r) => ({ query: r.query, totalMs: Number(Number(r.total).toFixed(2)) })) })
  },

  async bloat(run, c) {
    for (const db of await databases(c)) {
      const rows = await withClient(run, db, (d) => d.query<{ name: string; live: string; dead: string }>(`SELECT schemaname || '.' || relname AS name, n_live_tup::text AS live, n_dead_tup::text AS dead
        FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 50`))
      for (const r of rows.rows) {
        const live = Number(r.live)
        const dead = Number(r.dead)
        const ratio = dead / Math.max(1, live + dead)
        if (dead >= run.thresholds.deadTuplesMin && ratio >= run.thresholds.deadTupleRatio) {
          run.report.find('bloat', 'dead-tuples', 'warning', `${db}.${r.name}: ${Math.round(ratio * 100)}% dead tuples (${dead} dead, ${live} live): VACUUM (ANALYZE) reclaims them`, { database: db, table: r.name, deadTuples: dead, liveTuples: live, deadRatio: Number(ratio.toFixed(3)) })
        }
      }
    }
  },

  async indexes(run, c) {
    for (const db of await databases(c)) {
      const unused = await withClient(run, db, (d) => d.query<{ index: string; table: string; bytes: string }>(`SELECT s.schemaname || '.' || s.indexrelname AS index, s.schemaname || '.' || s.relname AS table,
          ((SELECT relpages FROM pg_class WHERE oid = s.indexrelid)::bigint * current_setting('block_size')::bigint)::text AS bytes
        FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary ORDER BY s.indexrelname`))
      for (const u of unused.rows) run.report.find('indexes', 'unused', 'info', `${db}: index ${u.index} on ${u.table} has never been used since statistics were reset (${u.bytes} bytes)`, { database: db, index: u.index, table: u.table, bytes: Number(u.bytes) })
      const dup = await withClient(run, db, (d) => d.query<{ indexes: string[]; table: string }>(`SELECT array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) AS indexes, indrelid::regclass::text AS table
        FROM pg_index GROUP BY indrelid, indkey::text, coalesce(indexprs::text, ''), coalesce(indpred::text, '') HAVING count(*) > 1`))
      for (const d of dup.rows) run.report.find('indexes', 'duplicate', 'warning', `${db}: ${d.indexes.join(' and ')} on ${d.table} index the same columns`, { database: db, table: d.table, indexes: d.indexes })
    }
  },

  async settings(run, c) {
    const rows = await c.query<{ name: string; bytes: string; setting: string; unit: string | null }>(`SELECT name, setting, unit, (setting::bigint * CASE unit WHEN '8kB' THEN 8192 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END)::text AS bytes
      FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size')`)
    const value = Object.fromEntries(rows.rows.map((r) => [r.name, Number(r.bytes)]))
    const memory = run.target.memoryBytes
    if (!memory) {
      run.report.find('settings', 'memory', 'info', 'the server\'s memory is not configured (memoryBytes): settings are listed, not reviewed', { settings: value })
      return
    }
    // The usual guidance the runbooks follow: shared_buffers ~25% of memory, effective_cache_size ~50-75%.
    const checks: Array<[string, number, number, string]> = [
      ['shared_buffers', 0.15, 0.4, 'about 25% of memory'],
      ['effective_cache_size', 0.5, 0.8, 'about 50–75% of memory'],
    ]
    for (const [setting, low, high, advice] of checks) {
      const ratio = (value[setting] ?? 0) / memory
      run.report.find('settings', setting, ratio < low || ratio > high ? 'warning' : 'ok', `${setting} is ${Math.round(ratio * 100)}% of the server's memory (advice: ${advice})`, { bytes: value[setting], memoryBytes: memory, ratio: Number(ratio.toFixed(3)) })
    }
    const maxConn = Number((await c.query<{ v: string }>("SELECT current_setting('max_connections') AS v")).rows[0]!.v)
    const workMemWorst = (value.work_mem ?? 0) * maxConn
    run.report.find('settings', 'work_mem', workMemWorst > memory ? 'warning' : 'ok', `work_mem × max_connections is ${Math.round((workMemWorst / memory) * 100)}% of memory${workMemWorst > memory ? ': a busy server can run out of memory' : ''}`, { workMemBytes: value.work_mem, maxConnections: maxConn })
    const mwm = (value.maintenance_work_mem ?? 0) / memory
    run.report.find('settings', 'maintenance_work_mem', mwm > 0.1 ? 'warning' : 'ok', `maintenance_work_mem is ${Math.round(mwm * 100)}% of memory`, { bytes: value.maintenance_work_mem })
  },

  async analyze(run, c) {
    await maintainTables(run, c, 'analyze', 'ANALYZE')
  },

  async 'vacuum-analyze'(run, c) {
    await maintainTables(run, c, 'vacuum-analyze', 'VACUUM (ANALYZE)')
    const hour = run.now.getUTCHours()
    for (const policy of run.target.maintenance.vacuumFull) {
      const inWindow = hour >= policy.windowStartHour && hour < policy.windowEndHour
      if (!inWindow) {
        run.report.act({ task: 'vacuum-analyze', action: 'VACUUM FULL', target: policy.table, outcome: 'skipped', reason: `outside its window (${policy.windowStartHour}:00–${policy.windowEndHour}:00 UTC)` })
        continue
      }
      await maintainOne(run, c, 'vacuum-analyze', 'VACUUM (FULL, ANALYZE)', policy.table)
    }
  },
}

async function maintainTables(run: PostgresRun, c: pg.Client, task: string, command: string): Promise<void> {
  for (const db of await databases(c)) {
    const tables = await withClient(run, db, (d) => d.query<{ name: string }>(`SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name FROM pg_stat_user_tables ORDER BY schemaname, relname`))
    if (tables.rows.length === 0) continue
    await withClient(run, db, async (d) => {
      for (const t of tables.rows) {
        if (run.signal.aborted) return
        await maintainOne(run, d, task, command, t.name, db)
      }
    }, `-c lock_timeout=${parseDuration(run.target.maintenance.lockTimeout)}`)
  }
}

async function maintainOne(run: PostgresRun, c: pg.Client, task: string, command: string, table: string, database?: string): Promise<void> {
  const target = database ? `${database}.${table}` : table
  if (run.dryRun) {
    run.report.act({ task, action: command, target, outcome: 'planned', reason: 'dry-run' })
    return
  }
  const left = timeLeft(run.deadline)
  if (left <= 0) {
    run.report.act({ task, action: command, target, outcome: 'skipped', reason: LEFT_AT_DEADLINE })
    return
  }
  const started = performance.now()
  try {
    // No statement may outlast the run: Knative would cut the request off mid-VACUUM, unreported.
    if (Number.isFinite(left)) await c.query(`SET statement_timeout = ${Math.max(1, Math.min(Math.round(left), parseDuration(run.target.maintenance.statementTimeout)!))}`)
    // A table name from the catalogue, quoted by quote_ident or by policy: never a value from an event.
    await c.query(`${command} ${table.includes('"') ? table : table.split('.').map(quoteIdent).join('.')}`)
    run.report.act({ task, action: command, target, outcome: 'done', durationMs: Math.round(performance.now() - started) })
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === '55P03') {
      // lock_not_available: someone holds the table; never wait for them.
      run.report.act({ task, action: command, target, outcome: 'skipped', reason: 'its lock could not be had within the lock timeout' })
      run.report.find(task, 'lock-unavailable', 'warning', `${command} skipped ${target}: another session holds a conflicting lock`, { table: target })
    } else {
      run.report.act({ task, action: command, target, outcome: 'failed', reason: describePgError(err) })
      run.report.find(task, 'maintenance-failed', 'warning', `${command} of ${target} failed: ${describePgError(err)}`, { table: target })
    }
  }
}

/** Run `tasks` against one PostgreSQL target; an unreachable server is a finding, not an error. */
export async function runPostgres(run: PostgresRun, tasks: readonly string[]): Promise<void> {
  let c: pg.Client
  try {
    c = client(run, run.target.database)
    await c.connect()
  } catch (err) {
    run.report.find('health', 'connect', 'critical', `cannot connect to ${run.target.host}:${run.target.port}/${run.target.database}: ${describePgError(err)}`, { host: run.target.host, port: run.target.port })
    return
  }
  try {
    for (const task of tasks) {
      if (run.signal.aborted) break
      if (pastDeadline(run.deadline)) {
        run.report.find(task, 'deadline', 'info', `${task} not started: ${LEFT_AT_DEADLINE}`, {})
        continue
      }
      try {
        await POSTGRES_TASKS[task]!(run, c)
      } catch (err) {
        run.report.find(task, 'task-failed', 'warning', `${task} failed: ${describePgError(err)}`, {})
      }
    }
  } finally {
    await c.end().catch(() => undefined)
  }
}
