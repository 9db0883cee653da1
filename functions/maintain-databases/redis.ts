import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { RedisTarget, Thresholds } from './config.ts'
import type { Report } from './findings.ts'
import { LEFT_AT_DEADLINE, pastDeadline } from '../../shared/deadline.ts'

/**
 * The Redis runbooks on every node of a target: health and replication,
 * INFO memory with the fragmentation ratio, MEMORY PURGE only when the
 * ratio and the allocator call for it, clients, SLOWLOG (read then reset,
 * so each report holds only new entries), BGSAVE with a wait on LASTSAVE.
 */

export interface RedisRun {
  readonly target: RedisTarget
  readonly username: string | undefined
  /** Kept out of every message: only ever handed to the client. */
  readonly password: string | undefined
  readonly thresholds: Thresholds
  readonly dryRun: boolean
  readonly report: Report
  readonly signal: AbortSignal
  /** When the run must end (epoch ms; the handler context's): nothing starts past it. */
  readonly deadline?: number
  /** How long BGSAVE may take before it is reported as not finished. */
  readonly saveTimeoutMs?: number
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/** Redis errors, without anything the client was given. */
function describe(err: unknown): string {
  return ((err as Error).message ?? String(err)).replace(/redis:\/\/\S+/g, '<connection>')
}

type Node = { name: string; client: Redis; primary: boolean }

const REDIS_TASKS: Record<string, (run: RedisRun, node: Node, primary: boolean) => Promise<void>> = {
  async health(run, node) {
    const info = parseInfo(await node.client.info('replication'))
    const evidence: Record<string, unknown> = { role: info.role, connectedReplicas: Number(info.connected_slaves ?? 0), offset: Number(info.master_repl_offset ?? info.slave_repl_offset ?? 0) }
    if (info.role === 'slave') {
      evidence.linkStatus = info.master_link_status
      evidence.primary = `${info.master_host}:${info.master_port}`
      if (info.master_link_status !== 'up') {
        run.report.find('health', 'replication', 'critical', `${node.name}: the replica's link to its primary is ${info.master_link_status}`, evidence)
        return
      }
    }
    run.report.find('health', 'ping', 'ok', `${node.name}: PONG, role ${info.role === 'slave' ? 'replica' : info.role}`, evidence)
  },

  async memory(run, node) {
    const info = parseInfo(await node.client.info('memory'))
    const ratio = Number(info.mem_fragmentation_ratio ?? 0)
    const fragBytes = Number(info.mem_fragmentation_bytes ?? 0)
    const fragmented = ratio >= run.thresholds.fragmentationRatio && fragBytes >= run.thresholds.fragmentationBytesMin
    run.report.find('memory', 'fragmentation', fragmented ? 'warning' : 'ok', `${node.name}: ${info.used_memory_human} used, fragmentation ratio ${ratio}${fragmented ? ` (${fragBytes} bytes wasted)` : ''}`, {
      usedMemory: Number(info.used_memory ?? 0), usedMemoryRss: Number(info.used_memory_rss ?? 0), fragmentationRatio: ratio, fragmentationBytes: fragBytes,
      allocator: info.mem_allocator, maxmemory: Number(info.maxmemory ?? 0), maxmemoryPolicy: info.maxmemory_policy,
    })
  },

  async clients(run, node) {
    const info = parseInfo(await node.client.info('clients'))
    const list = String(await node.client.client('LIST')).split('\n').filter(Boolean).map((l) => Object.fromEntries(l.split(' ').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)] })) as Record<string, string>)
    const biggest = list.map((c) => ({ addr: c.addr, name: c.name, cmd: c.cmd, outputBytes: Number(c.omem ?? 0), queryBufferBytes: Number(c.qbuf ?? 0) }))
      .sort((a, b) => b.outputBytes + b.queryBufferBytes - (a.outputBytes + a.queryBufferBytes)).slice(0, 5)
    const blocked = Number(info.blocked_clients ?? 0)
    run.report.find('clients', 'clients', blocked > 0 ? 'info' : 'ok', `${node.name}: ${info.connected_clients} clients, ${blocked} blocked`, { connected: Number(info.connected_clients ?? 0), blocked, biggestBuffers: biggest })
  },

  async slowlog(run, node) {
    const entries = await node.client.call('SLOWLOG', 'GET', '128') as Array<[number, number, number, string[], string, string]>
    const parsed = entries.map(([id, at, micros, args]) => ({ id, at: new Date(at * 1000).toISOString(), durationMs: micros / 1000, command: args.slice(0, 3).map((a) => String(a).slice(0, 40)).join(' ') }))
    run.report.find('slowlog', 'entries', parsed.length > 0 ? 'info' : 'ok', `${node.name}: ${parsed.length} slow command(s) since the last report${parsed[0] ? `; slowest ${Math.max(...parsed.map((p) => p.durationMs))} ms` : ''}`, { entries: parsed.slice(0, 20) })
    if (parsed.length === 0) return
    if (run.dryRun) run.report.act({ task: 'slowlog', action: 'SLOWLOG RESET', target: node.name, outcome: 'planned', reason: 'dry-run' })
    else {
      await node.client.call('SLOWLOG', 'RESET')
      run.report.act({ task: 'slowlog', action: 'SLOWLOG RESET', target: node.name, outcome: 'done' })
    }
  },

  async 'memory-purge'(run, node) {
    const info = parseInfo(await node.client.info('memory'))
    const ratio = Number(info.mem_fragmentation_ratio ?? 0)
    const fragBytes = Number(info.mem_fragmentation_bytes ?? 0)
    // MEMORY PURGE asks jemalloc to return dirty pages: useless with another allocator.
    const needed = info.mem_allocator?.startsWith('jemalloc') && ratio >= run.thresholds.fragmentationRatio && fragBytes >= run.thresholds.fragmentationBytesMin
    if (!needed) {
      run.report.act({ task: 'memory-purge', action: 'MEMORY PURGE', target: node.name, outcome: 'skipped', reason: `not needed (ratio ${ratio}, ${fragBytes} bytes, allocator ${info.mem_allocator})` })
      return
    }
    if (run.dryRun) {
      run.report.act({ task: 'memory-purge', action: 'MEMORY PURGE', target: node.name, outcome: 'planned', reason: 'dry-run' })
      return
    }
    await node.client.call('MEMORY', 'PURGE')
    const after = parseInfo(await node.client.info('memory'))
    run.report.act({ task: 'memory-purge', action: 'MEMORY PURGE', target: node.name, outcome: 'done', reason: `ratio ${ratio} → ${after.mem_fragmentation_ratio}` })
  },

  async bgsave(run, node, primary) {
    const persistence = parseInfo(await node.client.info('persistence'))
    const lastSave = Number(persistence.rdb_last_save_time ?? 0)
    const evidence = { lastSave: new Date(lastSave * 1000).toISOString(), lastStatus: persistence.rdb_last_bgsave_status, changesSinceSave: Number(persistence.rdb_changes_since_last_save ?? 0), aof: persistence.aof_enabled === '1' }
    if (persistence.rdb_last_bgsave_status !== 'ok') run.report.find('bgsave', 'last-save', 'critical', `${node.name}: the last background save failed`, evidence)
    if (!primary) return
    if (run.dryRun) {
      run.report.act({ task: 'bgsave', action: 'BGSAVE', target: node.name, outcome: 'planned', reason: 'dry-run' })
      return
    }
    const started = performance.now()
    await node.client.bgsave()
    const deadline = Math.min(Date.now() + (run.saveTimeoutMs ?? 120_000), run.deadline ?? Number.POSITIVE_INFINITY)
    while (Date.now() < deadline && !run.signal.aborted) {
      await sleep(100)
      if (Number(await node.client.lastsave()) > lastSave) {
        run.report.act({ task: 'bgsave', action: 'BGSAVE', target: node.name, outcome: 'done', durationMs: Math.round(performance.now() - started) })
        const after = parseInfo(await node.client.info('persistence'))
        run.report.find('bgsave', 'saved', after.rdb_last_bgsave_status === 'ok' ? 'ok' : 'critical', `${node.name}: background save ${after.rdb_last_bgsave_status}`, { lastSave: new Date(Number(after.rdb_last_save_time) * 1000).toISOString() })
        return
      }
    }
    run.report.act({ task: 'bgsave', action: 'BGSAVE', target: node.name, outcome: 'failed', reason: 'LASTSAVE did not move before the timeout' })
    run.report.find('bgsave', 'saved', 'warning', `${node.name}: the background save did not finish in time`, evidence)
  },
}

export async function runRedis(run: RedisRun, tasks: readonly string[]): Promise<void> {
  const nodes: Node[] = []
  try {
    for (const [i, n] of run.target.nodes.entries()) {
      const name = `${n.host}:${n.port}`
      const client = new Redis({
        host: n.host, port: n.port, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, enableOfflineQueue: false, retryStrategy: () => null,
        ...(run.username ? { username: run.username } : {}), ...(run.password ? { password: run.password } : {}),
      })
      client.on('error', () => undefined)
      try {
        await client.connect()
        nodes.push({ name, client, primary: i === 0 })
      } catch (err) {
        client.disconnect()
        run.report.find('health', 'connect', 'critical', `cannot reach ${i === 0 ? 'the primary' : 'a replica'} ${name}: ${describe(err)}`, { node: name })
      }
    }
    for (const task of tasks) {
      if (pastDeadline(run.deadline)) {
        run.report.find(task, 'deadline', 'info', `${task} not started: ${LEFT_AT_DEADLINE}`, {})
        continue
      }
      for (const node of nodes) {
        if (run.signal.aborted) return
        try {
          await REDIS_TASKS[task]!(run, node, node.primary)
        } catch (err) {
          run.report.find(task, 'task-failed', 'warning', `${node.name}: ${task} failed: ${describe(err)}`, { node: node.name })
        }
      }
    }
  } finally {
    for (const n of nodes) n.client.disconnect()
  }
}
