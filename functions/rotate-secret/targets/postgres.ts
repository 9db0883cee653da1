import { loadPg } from '../../../shared/drivers.ts'
import { SecretValue } from '../../../shared/logger.ts'
import type { Vault } from '../../../shared/vault/client.ts'
import type { PostgresRoleTarget } from '../config.ts'
import { scramSha256Verifier } from './scram.ts'
import { TargetError, type TargetSession } from './target.ts'

/**
 * A PostgreSQL role's password. The function logs in with an admin
 * credential read from Vault and keeps that one connection for the whole
 * rotation (so rotating the admin's own password can still be undone).
 * Only one password is valid at a time: the window between the change and
 * the consumers' restart is measured and reported.
 */

/** A driver error, in words that carry no credential: the SQLSTATE and what it means. */
function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string }
  switch (e.code) {
    case '28P01': return 'the password was refused (28P01 invalid_password)'
    case '28000': return 'the login was refused (28000 invalid_authorization_specification)'
    case '53300': return 'the server refused the connection: too many connections (53300)'
    case '42704': return 'the role does not exist (42704)'
    case '42501': return 'not allowed (42501 insufficient_privilege)'
    case '3D000': return 'the database does not exist (3D000)'
    case 'ECONNREFUSED': case 'ETIMEDOUT': case 'EHOSTUNREACH': case 'ENOTFOUND': return `unreachable (${e.code})`
    default:
      if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) return `SQLSTATE ${e.code}`
      if (e.code) return e.code
      return /timeout/i.test(e.message ?? '') ? 'timed out' : 'connection failed'
  }
}

interface Endpoint { host: string; port: number; database: string }

export async function openPostgresTarget(target: PostgresRoleTarget, current: Record<string, string>, vault: Vault, key: string, timeoutMs: number): Promise<TargetSession> {
  const { mount, path } = target.connection.vault
  const admin = await vault.readKv(mount, path).catch((err: Error) => { throw new TargetError(`reading the admin credential: ${err.message}`) })
  const host = admin.data.host ?? target.connection.host
  const port = Number(admin.data.port ?? target.connection.port ?? 5432)
  const database = admin.data.database ?? target.connection.database ?? 'postgres'
  if (!host) throw new TargetError(`no host: set connection.host or a host key in ${mount}/${path}`)
  if (!admin.data.username || !admin.data.password) throw new TargetError(`${mount}/${path} needs username and password keys`)
  const role = target.role ?? current.username
  if (!role) throw new TargetError('no role: set target.role or keep a username key in the secret')
  const endpoint: Endpoint = { host, port, database }
  const where = `${role}@${host}:${port}`
  const old = current[key] !== undefined ? new SecretValue(current[key]) : undefined

  const pg = await loadPg()
  const client = new pg.Client({
    host, port, database, user: admin.data.username, password: admin.data.password,
    connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, query_timeout: timeoutMs, application_name: 'caretaker-rotate-secret',
  })
  // A dropped connection must not crash the process; the next query reports it.
  client.on('error', () => undefined)
  try {
    await client.connect()
    const found = await client.query('select 1 from pg_catalog.pg_roles where rolname = $1', [role])
    if (found.rowCount === 0) throw Object.assign(new Error('no role'), { code: '42704' })
  } catch (err) {
    await client.end().catch(() => undefined)
    throw new TargetError(`PostgreSQL ${host}:${port} as ${admin.data.username}: ${describePgError(err)}`)
  }

  const setPassword = async (value: SecretValue, what: string) => {
    try {
      await client.query(`ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(scramSha256Verifier(value.reveal()))}`)
    } catch (err) {
      throw new TargetError(`PostgreSQL: ${what} for role ${where}: ${describePgError(err)}`)
    }
  }

  return {
    description: `PostgreSQL role ${where}`,
    dualCredential: false,
    apply: (next) => setPassword(next, 'setting the new password'),
    async verify(next) {
      const login = new pg.Client({ ...endpoint, database: target.loginDatabase ?? database, user: role, password: next.reveal(), connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs })
      login.on('error', () => undefined)
      try {
        await login.connect()
        await login.query('select 1')
      } catch (err) {
        throw new TargetError(`PostgreSQL: logging in as ${where} with the new password: ${describePgError(err)}`)
      } finally {
        await login.end().catch(() => undefined)
      }
    },
    async revert() {
      if (!old) throw new TargetError(`PostgreSQL: the secret held no ${key} before, so role ${where} cannot get it back`)
      await setPassword(old, 'restoring the previous password')
    },
    // ALTER ROLE sets the old password whatever the role has now: nothing to learn.
    resume: () => undefined,
    retire: async () => false,
    close: () => client.end().catch(() => undefined),
  }
}
