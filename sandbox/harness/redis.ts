import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { binarySkipReason, findBinary } from './binaries.ts'
import { cleanUpAtExit, startDaemon, type Daemon } from './daemon.ts'
import { freePort } from './ports.ts'

/**
 * A throwaway Redis for one test (optionally with a replica): loopback
 * only, a free port, nothing persisted, everything in a temporary directory.
 */
export interface RedisOptions {
  /** Clients must AUTH with it; the replica uses it to reach the primary. */
  password?: string
  /** Start a second server replicating from the first. */
  replica?: boolean
  /** How long to wait for the server(s) to be usable (default 30 s). */
  startTimeoutMs?: number
  /** Start each server from a config file (`<name>.conf` in `dir`), as deployed servers run, so CONFIG REWRITE works. */
  configFile?: boolean
}

export interface RedisEndpoint {
  port: number
  url: string
}

export interface RedisServer extends RedisEndpoint {
  host: string
  /** The temporary directory the servers work in (removed by stop()). */
  dir: string
  password?: string
  replica?: RedisEndpoint
  /** With `configFile`: the servers' config files, by name (`primary`, `replica`). */
  configFiles?: Record<string, string>
  /** What the servers have logged (for failure messages). */
  logs(): string
  /** Shut the server(s) down and remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

const packageName = 'redis-server'

/** The skip reason when Redis is not installed (under CI=true: throws). */
export function redisSkipReason(): string | false {
  return binarySkipReason('redis-server', { packageName })
}

function redisUrl(host: string, port: number, password: string | undefined): string {
  return `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}${host}:${port}`
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const program = findBinary('redis-server', { packageName })
  if (!program) throw new Error(`${redisSkipReason() || 'redis-server not found'}`)
  const host = '127.0.0.1'
  const baseDir = await mkdtemp(join(tmpdir(), 'caretaker-redis-'))
  const daemons: Daemon[] = []
  const cancelExitHook = cleanUpAtExit(() => daemons, [baseDir])
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000)

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Replica first, so it does not log the primary going away for long.
      for (const daemon of [...daemons].reverse()) await daemon.stop('SIGTERM', 10_000)
      await rm(baseDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
      cancelExitHook()
    })()
    return stopping
  }

  const configFiles: Record<string, string> = {}
  const launch = async (name: string, extra: string[]): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort(host)
      const args = [
        '--port', String(port), '--bind', host,
        '--save', '', '--appendonly', 'no',
        '--dir', baseDir, '--dbfilename', `${name}.rdb`,
        '--daemonize', 'no', '--loglevel', 'notice', '--logfile', '',
        // A replica's first sync starts at once, not after the default 5 s.
        '--repl-diskless-sync-delay', '0',
        ...(options.password !== undefined ? ['--requirepass', options.password, '--masterauth', options.password] : []),
        ...extra,
      ]
      let configArgs: string[] = []
      if (options.configFile) {
        const path = join(baseDir, `${name}.conf`)
        await writeFile(path, '# written by the test harness; the arguments below the path override nothing here\n')
        configFiles[name] = path
        configArgs = [path]
      }
      const daemon = startDaemon(program, [...configArgs, ...args], { cwd: baseDir })
      daemons.push(daemon)
      const ready = await waitUntilReady(daemon, port, options.password, deadline)
      if (ready === 'ready') return port
      daemons.splice(daemons.indexOf(daemon), 1)
      await daemon.stop('SIGKILL')
      if (ready === 'exited' && /address already in use/i.test(daemon.output()) && attempt < 5) continue
      throw new Error(`redis-server (${name}) did not start (${ready === 'exited' ? 'it exited' : 'not ready in time'}):\n${daemon.output()}`)
    }
  }

  try {
    const port = await launch('primary', [])
    const server: RedisServer = {
      host, port, dir: baseDir,
      url: redisUrl(host, port, options.password),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.configFile ? { configFiles } : {}),
      logs: () => daemons.map((d) => d.output()).join('\n'),
      stop,
    }
    if (options.replica) {
      const replicaPort = await launch('replica', ['--replicaof', host, String(port)])
      await waitForReplicationLink(replicaPort, options.password, deadline, () => server.logs())
      server.replica = { port: replicaPort, url: redisUrl(host, replicaPort, options.password) }
    }
    return server
  } catch (err) {
    await stop()
    throw err
  }
}

function client(port: number, password: string | undefined): Redis {
  const redis = new Redis({
    host: '127.0.0.1', port,
    ...(password !== undefined ? { password } : {}),
    lazyConnect: true,
    connectTimeout: 1000,
    // A failed attempt's socket is closed already; do not wait 2 s for it.
    disconnectTimeout: 100,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  // Refused connections are expected while the server starts.
  redis.on('error', () => undefined)
  return redis
}

async function waitUntilReady(daemon: Daemon, port: number, password: string | undefined, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  while (Date.now() < deadline) {
    if (!daemon.running()) return 'exited'
    const redis = client(port, password)
    try {
      await redis.connect()
      if ((await redis.ping()) === 'PONG') return 'ready'
    } catch {
      await sleep(25)
    } finally {
      redis.disconnect()
    }
  }
  return daemon.running() ? 'timeout' : 'exited'
}

async function waitForReplicationLink(port: number, password: string | undefined, deadline: number, logs: () => string): Promise<void> {
  const redis = client(port, password)
  try {
    await redis.connect()
    let info = ''
    while (Date.now() < deadline) {
      info = await redis.info('replication')
      if (/^master_link_status:up\r?$/m.test(info)) return
      await sleep(50)
    }
    throw new Error(`the replica did not connect to its primary in time:\n${info}\n${logs()}`)
  } finally {
    redis.disconnect()
  }
}
