import { fail } from './formats/stream.ts'
import { restoreEtcdSnapshot } from './restore-etcd.ts'
import { restoreGitBundle } from './restore-git.ts'
import { restoreDump } from './restore-postgres.ts'
import type { RestorePrograms } from './restore-process.ts'
import { restoreRdb } from './restore-redis.ts'
import type { RestoreRunner } from './verify.ts'

/**
 * The inline restore test of a set, by its format: a PostgreSQL dump into a
 * throwaway PostgreSQL (restore-postgres.ts), an etcd snapshot into a
 * throwaway etcd (restore-etcd.ts), a Redis RDB into a throwaway
 * redis-server (restore-redis.ts), a git bundle cloned and checked
 * (restore-git.ts). Each is bounded by the set's `restore.timeout` and
 * leaves nothing behind.
 */

export { firstErrorLine, restoreDump } from './restore-postgres.ts'

export interface RestoreRunnerOptions {
  /** Where PostgreSQL's server programs are (the config's postgresBinDir). */
  postgresBinDir?: string
  /** The other restores' programs by path, when not the ones on PATH. */
  programs?: RestorePrograms
}

export function restoreRunner(options: RestoreRunnerOptions = {}): RestoreRunner {
  return (artifact, set, signal) => {
    switch (set.format) {
      case 'pg-dumpall-gzip':
        return restoreDump(artifact, set, signal, options.postgresBinDir)
      case 'etcd-snapshot':
        return restoreEtcdSnapshot(artifact, set, signal, options.programs)
      case 'redis-rdb':
        return restoreRdb(artifact, set, signal, options.programs)
      case 'git-bundle':
        return restoreGitBundle(artifact, set, signal, options.programs)
      default:
        // checkConfig refuses a restore test for any other format.
        return Promise.resolve(fail(`no restore test for ${set.format} sets`, {}))
    }
  }
}

/** The restore runner with PostgreSQL's programs in `binDir`. */
export function postgresRestoreRunner(binDir?: string): RestoreRunner {
  return restoreRunner(binDir === undefined ? {} : { postgresBinDir: binDir })
}
