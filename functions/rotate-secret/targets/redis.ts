import type { Redis } from 'ioredis'
import { loadRedis } from '../../../shared/drivers.ts'
import { SecretValue } from '../../../shared/logger.ts'
import type { Vault } from '../../../shared/vault/client.ts'
import type { RedisNode, RedisTarget } from '../config.ts'
import { crashPoint } from '../crash.ts'
import { TargetError, type TargetSession } from './target.ts'

/**
 * A Redis password on every listed node (the primary and each replica:
 * neither requirepass nor ACL users are replicated). Every node changes or
 * none does: a node that fails undoes the ones changed before it.
 *
 * - `requirepass`: the default user's password, and `masterauth` so the
 *   replicas still reach the primary. One password at a time.
 * - `acl`: the new password is added beside the old one; the old one is
 *   removed only by `retire`, after the consumers have restarted, so no
 *   consumer is ever locked out.
 */

/** The last error a client reported on its own (the cause of a failed connection). */
const lastError = new WeakMap<Redis, Error>()

/** A Redis error in words: the error code of the reply (WRONGPASS, NOPERM…) or the socket's; never the command's arguments. */
function describeRedisError(err: unknown, client?: Redis): string {
  // A refused or failed connection rejects with "Connection is closed."; the cause went to the error event.
  const e = ((client && /connection is closed/i.test((err as Error | undefined)?.message ?? '') ? lastError.get(client) : undefined) ?? err) as { code?: string; message?: string }
  if (e.code) return `unreachable (${e.code})`
  const first = /^([A-Z]{3,})\b/.exec(e.message ?? '')
  if (first) return first[1] === 'WRONGPASS' ? 'the password was refused (WRONGPASS)' : `refused (${first[1]})`
  return /timeout|timed out/i.test(e.message ?? '') ? 'timed out' : /closed|connection/i.test(e.message ?? '') ? 'connection lost' : 'failed'
}

async function connect(node: RedisNode, auth: { username?: string; password?: string }, timeoutMs: number): Promise<Redis> {
  const RedisClient = await loadRedis()
  const redis = new RedisClient({
    host: node.host, port: node.port,
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password !== undefined ? { password: auth.password } : {}),
    lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, disconnectTimeout: 100,
  })
  redis.on('error', (err: Error) => { lastError.set(redis, err) })
  return redis
}

const at = (n: RedisNode) => `${n.host}:${n.port}`

/** `ACL SETUSER <password` of a password the user does not hold: Redis refuses it ("...does not exist"); for an undo or a retire it is done already. */
function ignoreMissingPassword(err: unknown): void {
  if (!/does not exist/i.test((err as Error).message ?? '')) throw err
}

/**
 * How a node keeps a change across its restart: ACL users in an aclfile are
 * saved with ACL SAVE; otherwise (requirepass, or ACL users in redis.conf)
 * CONFIG REWRITE, which needs the server to have been started from a file.
 */
async function saveMethod(redis: Redis, mode: RedisTarget['mode'], node: RedisNode): Promise<'acl-save' | 'config-rewrite'> {
  if (mode === 'acl') {
    const [, aclfile] = await redis.config('GET', 'aclfile') as [string, string]
    if (aclfile) return 'acl-save'
  }
  const info = await redis.info('server')
  if (!/^config_file:\S+/m.test(info)) {
    throw new TargetError(`Redis ${at(node)} runs without a config file${mode === 'acl' ? ' or an aclfile' : ''}: the new password would be lost at its next restart. Start it from a config file, or set persist: false to change the running server only`)
  }
  return 'config-rewrite'
}

export async function openRedisTarget(target: RedisTarget, current: Record<string, string>, vault: Vault, key: string, timeoutMs: number, alsoTry?: SecretValue): Promise<TargetSession> {
  let auth: { username?: string; password?: string }
  if (target.connection) {
    const { mount, path } = target.connection.vault
    const admin = await vault.readKv(mount, path).catch((err: Error) => { throw new TargetError(`reading the admin credential: ${err.message}`) })
    auth = { ...(admin.data.username ? { username: admin.data.username } : {}), ...(admin.data.password !== undefined ? { password: admin.data.password } : {}) }
  } else {
    auth = current[key] !== undefined ? { password: current[key] } : {}
  }
  const old = current[key] !== undefined ? new SecretValue(current[key]) : undefined
  const user = target.mode === 'acl' ? target.user! : 'default'

  // Every node is reachable (and, to persist, has a file to save to) before anything changes.
  const nodes: Array<{ node: RedisNode; redis: Redis; masterauth?: SecretValue; save?: 'acl-save' | 'config-rewrite' }> = []
  const closeAll = () => Promise.all(nodes.map((n) => n.redis.quit().catch(() => n.redis.disconnect())))
  for (const node of target.nodes) {
    let redis = await connect(node, auth, timeoutMs)
    nodes.push({ node, redis })
    try {
      try {
        await redis.connect()
        await redis.ping()
      } catch (err) {
        // Recovery of a cut-off requirepass rotation: this node may have the new password already.
        if (!alsoTry || target.connection) throw err
        redis.disconnect()
        redis = await connect(node, { password: alsoTry.reveal() }, timeoutMs)
        nodes.at(-1)!.redis = redis
        await redis.connect()
        await redis.ping()
      }
      if (target.mode === 'acl' && await redis.call('ACL', 'GETUSER', user) === null) {
        throw new TargetError(`Redis ${at(node)}: there is no ACL user ${user}`)
      }
      if (target.mode === 'requirepass') {
        const [, value] = await redis.config('GET', 'masterauth') as [string, string]
        nodes.at(-1)!.masterauth = new SecretValue(value ?? '')
      }
      if (target.persist !== false) nodes.at(-1)!.save = await saveMethod(redis, target.mode, node)
    } catch (err) {
      await closeAll()
      throw err instanceof TargetError ? err : new TargetError(`Redis ${at(node)}: ${describeRedisError(err, redis)}`)
    }
  }

  const save = async (n: (typeof nodes)[number]) => {
    if (n.save === 'acl-save') await n.redis.call('ACL', 'SAVE')
    else if (n.save === 'config-rewrite') await n.redis.call('CONFIG', 'REWRITE')
  }
  const changed: typeof nodes = []
  const setOn = async (n: (typeof nodes)[number], next: SecretValue) => {
    if (target.mode === 'acl') await n.redis.call('ACL', 'SETUSER', user, `>${next.reveal()}`)
    else {
      await n.redis.config('SET', 'masterauth', next.reveal())
      await n.redis.config('SET', 'requirepass', next.reveal())
    }
  }
  let added: SecretValue | undefined
  const undoOn = async (n: (typeof nodes)[number]) => {
    if (target.mode === 'acl') {
      // A password the user does not have (recovery: the cut-off apply never reached this node) is removed already.
      if (added) await n.redis.call('ACL', 'SETUSER', user, `<${added.reveal()}`).catch(ignoreMissingPassword)
    } else {
      if (!old) throw new TargetError(`Redis ${at(n.node)}: the secret held no ${key} before, so requirepass cannot get it back`)
      await n.redis.config('SET', 'masterauth', n.masterauth?.reveal() ?? '')
      await n.redis.config('SET', 'requirepass', old.reveal())
    }
  }
  const revert = async () => {
    const failed: string[] = []
    for (const n of [...changed].reverse()) {
      try {
        await undoOn(n)
        await save(n)
        changed.splice(changed.indexOf(n), 1)
      } catch (err) {
        failed.push(`${at(n.node)}: ${err instanceof TargetError ? err.message : describeRedisError(err)}`)
      }
    }
    if (failed.length) throw new TargetError(`Redis: undoing the change failed on ${failed.join('; ')}`)
  }

  return {
    description: target.mode === 'acl' ? `Redis ACL user ${user} on ${target.nodes.map(at).join(', ')}` : `Redis requirepass on ${target.nodes.map(at).join(', ')}`,
    dualCredential: target.mode === 'acl',
    async apply(next) {
      added = next
      for (const [i, n] of nodes.entries()) {
        if (i === 1) crashPoint('apply:node-1')
        try {
          if (!changed.includes(n)) changed.push(n)
          await setOn(n, next)
        } catch (err) {
          const reason = `Redis ${at(n.node)}: setting the new password: ${describeRedisError(err)}`
          try {
            await revert()
          } catch (undo) {
            throw new TargetError(`${reason}; ${(undo as Error).message}`)
          }
          throw new TargetError(`${reason} (the nodes changed before it were undone)`)
        }
      }
      // Only once every node runs with it: saved where each reads it at its next start.
      for (const n of nodes) {
        try {
          await save(n)
        } catch (err) {
          const reason = `Redis ${at(n.node)}: saving the new password for its next start (${n.save}): ${describeRedisError(err)}`
          try {
            await revert()
          } catch (undo) {
            throw new TargetError(`${reason}; ${(undo as Error).message}`)
          }
          throw new TargetError(`${reason} (every node was undone)`)
        }
      }
    },
    async verify(next) {
      for (const { node } of nodes) {
        const login = await connect(node, { ...(target.mode === 'acl' ? { username: user } : {}), password: next.reveal() }, timeoutMs)
        try {
          await login.connect()
          await login.ping()
        } catch (err) {
          throw new TargetError(`Redis ${at(node)}: logging in as ${user} with the new password: ${describeRedisError(err, login)}`)
        } finally {
          login.disconnect()
        }
      }
    },
    revert,
    resume(next) {
      added = next
      for (const n of nodes) {
        if (!changed.includes(n)) changed.push(n)
        // Its masterauth was read after the cut-off apply may have set it: undo to the old password then.
        if (old && n.masterauth?.reveal() === next.reveal()) n.masterauth = old
      }
    },
    async retire() {
      if (target.mode !== 'acl' || !old || old.reveal() === added?.reveal()) return false
      for (const n of nodes) {
        try {
          await n.redis.call('ACL', 'SETUSER', user, `<${old.reveal()}`).catch(ignoreMissingPassword)
          await save(n)
        } catch (err) {
          throw new TargetError(`Redis ${at(n.node)}: removing the old password of ${user}: ${describeRedisError(err)}`)
        }
      }
      return true
    },
    close: async () => { await closeAll() },
  }
}
