import { symlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { loadRedis } from '../../shared/drivers.ts'
import { freePort } from '../../shared/process/ports.ts'
import type { Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { fail, pass, type FormatVerdict } from './formats/stream.ts'
import {
  boundedRestore, pause, restoreProgram, restoreProgramMissing, sizeBytes, throwawaySecret,
  type RestorePrograms, type RestoreScope,
} from './restore-process.ts'

/**
 * The Redis restore test: a throwaway `redis-server` loads the RDB at start,
 * as a restarted Redis would, from a throwaway directory where the dump is
 * linked under `--dbfilename`. It listens on a free loopback port with a
 * password of its own, saves nothing (`--save ""`, no AOF; a save would
 * write a temp file and rename it over the link, never into the backup:
 * redis/redis src/rdb.c rdbSave), and is killed once DBSIZE of every
 * database and the expected keys are read. An RDB Redis cannot load (cut
 * short, corrupt, from a newer Redis, with a module's types) stops the
 * server at start with a `#` line saying why (src/rdb.c rdbLoad,
 * rdbReportError), which is the failure reported.
 *
 * `maxmemory` bounds what the server may grow to after loading; Redis loads
 * an RDB whatever its limit (loading evicts nothing), so a dataset above
 * `restore.memoryLimit` is reported as such from INFO memory.
 */

const DUMP = 'dump.rdb'
/** A source server configured with more databases than Redis's 16 writes SELECTs above 15 into its RDB. */
const DATABASES = 256
/** A warning line of Redis's log (`<pid>:<role> <date> # <text>`): the level of load failures. */
const REDIS_WARNING = /^\d+:[A-Z] .*? # (.*)$/
const LOAD_FAILURE = /error|short read|can't|cannot|bad|unrecoverable|fatal|wrong|fail|corrupt|unknown|unsupported/i

/** Why Redis did not start: its warning lines that say so (not its banner nor its advice on overcommit), at most two. */
function loadError(output: string): string | undefined {
  const warnings = output.split('\n').map((l) => REDIS_WARNING.exec(l.trim())?.[1]).filter((l): l is string => l !== undefined)
  const reasons = warnings.filter((l) => LOAD_FAILURE.test(l) && !/^WARNING /.test(l)).slice(0, 2).join('; ')
  const line = reasons || output.trim().split('\n').at(-1)
  return line && line.length > 300 ? `${line.slice(0, 300)}…` : line || undefined
}

async function client(port: number, password: string): Promise<Redis> {
  const RedisClient = await loadRedis()
  const redis = new RedisClient({
    host: '127.0.0.1', port, password,
    lazyConnect: true, connectTimeout: 2000, disconnectTimeout: 100,
    maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null,
  })
  // Refused connections are expected while the server starts; each call reports its own.
  redis.on('error', () => undefined)
  return redis
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1]
}

/** Keys per database from INFO keyspace (`db3:keys=12,expires=0,avg_ttl=0`). */
function keyspace(info: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of info.matchAll(/^(db\d+):keys=(\d+)/gm)) out[m[1]!] = Number(m[2])
  return out
}

/** Waits until the server answers PING (it answers -LOADING while it reads the RDB); false when it exited first. */
async function loaded(scope: RestoreScope, server: { running(): boolean }, port: number, password: string): Promise<Redis | undefined> {
  while (server.running()) {
    const redis = await client(port, password)
    try {
      await redis.connect()
      if ((await redis.ping()) === 'PONG') return redis
    } catch {
      // Not listening yet, or still loading.
    }
    redis.disconnect()
    await pause(scope, 50)
  }
  return undefined
}

export async function restoreRdb(artifact: Artifact, set: BackupSet, signal: AbortSignal, programs: RestorePrograms = {}): Promise<FormatVerdict> {
  const program = restoreProgram('redis-server', programs)
  if (!program) return fail(`restore test cannot run: ${restoreProgramMissing('redis-server')}`, {})
  const test = set.restore!
  const limit = sizeBytes(test.memoryLimit)
  return boundedRestore(set, signal, async (scope, started) => {
    const elapsed = (): number => Math.round(performance.now() - started)
    await symlink(artifact.path, join(scope.dir, DUMP))
    const password = throwawaySecret()
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      // The password is given on the command line of a process that lives for this restore only, on loopback.
      const server = scope.start(program, [
        '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--requirepass', password,
        '--dir', scope.dir, '--dbfilename', DUMP, '--save', '', '--appendonly', 'no',
        '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice', '--databases', String(DATABASES),
        ...(limit !== undefined ? ['--maxmemory', String(limit), '--maxmemory-policy', 'noeviction'] : []),
      ])
      const redis = await loaded(scope, server, port, password)
      if (!redis) {
        await server.exited
        const output = server.output()
        if (/address already in use/i.test(output) && attempt < 5) continue
        const error = loadError(output) ?? 'redis-server exited'
        return fail(`the RDB does not load: ${error}`, { restored: false, error, durationMs: elapsed() })
      }
      try {
        const [serverInfo, keyInfo, memoryInfo] = [await redis.info('server'), await redis.info('keyspace'), await redis.info('memory')]
        const databases = keyspace(keyInfo)
        const keys = Object.values(databases).reduce((a, b) => a + b, 0)
        const usedMemory = Number(infoField(memoryInfo, 'used_memory') ?? 0)
        const missing: string[] = []
        for (const key of test.expectKeys ?? []) if ((await redis.exists(key)) !== 1) missing.push(key)
        const tool = `redis-server ${infoField(serverInfo, 'redis_version') ?? '?'}`
        const found = { tool, restored: true, keys, databases, usedMemory, durationMs: elapsed() }
        if (missing.length > 0) return fail(`restored, but expected key(s) ${missing.join(', ')} are missing from db0`, { ...found, missing })
        if (test.minKeys !== undefined && keys < test.minKeys) return fail(`restored, but it holds ${keys} key(s), below the minimum ${test.minKeys}`, { ...found, minKeys: test.minKeys })
        if (limit !== undefined && usedMemory > limit) {
          return fail(`restored, but the dataset takes ${usedMemory} bytes of memory, more than restore.memoryLimit (${test.memoryLimit})`, { ...found, memoryLimit: test.memoryLimit })
        }
        return pass(`loaded by a throwaway ${tool} in ${found.durationMs} ms: ${keys} key(s)${test.expectKeys?.length ? `, ${test.expectKeys.length} expected key(s) present` : ''}`, found)
      } finally {
        redis.disconnect()
      }
    }
  })
}
