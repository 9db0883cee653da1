import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { acceptsConnections } from '../../sandbox/harness/ports.ts'
import { redisSkipReason, startRedis } from '../../sandbox/harness/redis.ts'

const skip = redisSkipReason()

/** A client that fails fast instead of retrying (the tests look at errors). */
function connectTo(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 100 })
  redis.on('error', () => undefined)
  return redis
}

t.test('a throwaway Redis answers SET/GET on loopback and is gone after stop()', { skip }, async (t) => {
  const server = await startRedis()
  t.teardown(() => server.stop())
  t.equal(server.host, '127.0.0.1')
  t.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/)
  t.ok(existsSync(server.dir), 'the temporary directory exists while it runs')

  const redis = connectTo(server.url)
  await redis.connect()
  t.equal(await redis.set('caretaker:test', 'value'), 'OK')
  t.equal(await redis.get('caretaker:test'), 'value')
  const config = await redis.config('GET', 'save') as string[]
  t.same(config, ['save', ''], 'nothing is persisted')
  redis.disconnect()

  await server.stop()
  t.notOk(existsSync(server.dir), 'the temporary directory is removed')
  t.equal(await acceptsConnections(server.port), false, 'the port no longer accepts connections')
  await server.stop()
  t.pass('stop() is idempotent')
})

t.test('two servers at once get different ports', { skip }, async (t) => {
  const [a, b] = await Promise.all([startRedis(), startRedis()])
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  t.not(a.port, b.port)
  t.not(a.dir, b.dir)
})

t.test('a password is enforced', { skip }, async (t) => {
  const server = await startRedis({ password: 'pa:ss w@rd' })
  t.teardown(() => server.stop())
  t.equal(server.password, 'pa:ss w@rd')

  // The client reports the server's refusal as an 'error' event and closes.
  const refusal = async (url: string): Promise<string> => {
    const errors: string[] = []
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 100 })
    redis.on('error', (err: Error) => errors.push(err.message))
    try {
      await redis.connect()
      await redis.get('x')
      return 'accepted'
    } catch {
      return errors.join('; ')
    } finally {
      redis.disconnect()
    }
  }
  t.match(await refusal(`redis://127.0.0.1:${server.port}`), /NOAUTH/, 'no password: refused')
  t.match(await refusal(`redis://:wrong@127.0.0.1:${server.port}`), /WRONGPASS/, 'a wrong password: refused')

  const right = connectTo(server.url)
  t.teardown(() => right.disconnect())
  await right.connect()
  t.equal(await right.set('k', 'v'), 'OK', 'the URL carries the password')
  t.equal(await right.get('k'), 'v')
})

t.test('a replica follows the primary', { skip }, async (t) => {
  const server = await startRedis({ password: 'secret', replica: true })
  t.teardown(() => server.stop())
  const replicaInfo = server.replica
  if (!replicaInfo) throw new Error('no replica')
  t.not(replicaInfo.port, server.port)

  const primary = connectTo(server.url)
  const replica = connectTo(replicaInfo.url)
  t.teardown(() => {
    primary.disconnect()
    replica.disconnect()
  })
  await primary.connect()
  await replica.connect()
  t.match(await replica.info('replication'), /role:slave[\s\S]*master_link_status:up/)

  await primary.set('written-on-primary', 'yes')
  let seen: string | null = null
  for (let i = 0; i < 100 && seen === null; i++) {
    seen = await replica.get('written-on-primary')
    if (seen === null) await sleep(50)
  }
  t.equal(seen, 'yes', 'the write reached the replica')
  await t.rejects(replica.set('x', 'y'), /READONLY/, 'the replica is read-only')

  await server.stop()
  t.notOk(existsSync(server.dir), 'the temporary directory is removed')
  t.equal(await acceptsConnections(server.port), false, 'the primary is down')
  t.equal(await acceptsConnections(replicaInfo.port), false, 'the replica is down')
})
