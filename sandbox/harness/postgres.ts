import {
  findPostgresBinDir, postgresMissingMessage, startThrowawayPostgres,
  type ThrowawayPostgres, type ThrowawayPostgresOptions,
} from '../../shared/postgres/throwaway.ts'

/**
 * A throwaway PostgreSQL server for one test: a fresh cluster in a temporary
 * directory, on a free loopback port, tuned for speed over durability. The
 * same server verify-backup restores into; here a missing PostgreSQL is a
 * skip, or under CI=true an error naming the install command.
 */
export type PostgresOptions = ThrowawayPostgresOptions
export type PostgresServer = ThrowawayPostgres

/** The skip reason when PostgreSQL is not installed (under CI=true: throws). */
export function postgresSkipReason(): string | false {
  if (findPostgresBinDir() !== undefined) return false
  const message = postgresMissingMessage()
  if (process.env.CI === 'true') throw new Error(message)
  return message
}

export function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const missing = postgresSkipReason()
  if (missing) return Promise.reject(new Error(missing))
  return startThrowawayPostgres(options)
}
