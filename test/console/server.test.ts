import { CloudEvent } from 'cloudevents'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import type { LocalState } from '../../cli/state.ts'
import { ConsoleFeed } from '../../sandbox/local/console/feed.ts'
import { startConsole } from '../../sandbox/local/console/server.ts'

// The console's server on its own, without a platform behind it: what it
// says when there is nothing to read, how the live flow resumes, its port.

const state = (dir: string): LocalState => ({
  version: 1, pid: process.pid, startedAt: new Date().toISOString(), broker: 'http://127.0.0.1:9/caretaker/caretaker', functions: {}, kubeconfig: null,
  dryRun: 'forced', eventingOidc: 'disabled', functionsDir: dir, triggersDir: dir, deliveries: `${dir}/deliveries.jsonl`, deadLetters: `${dir}/dead-letters.jsonl`,
})

t.test('without a cluster or a verify-backup config; resuming the flow', async (t) => {
  const dir = t.testdir()
  const feed = new ConsoleFeed()
  const server = await startConsole({ port: 0, state: state(dir), stateDir: dir, env: {}, feed, kubeConfig: undefined, verifyBackupConfig: undefined, logger: createLogger({ level: 'silent' }), token: 'a-test-token-that-is-long-enough' })
  t.teardown(() => server.close())
  t.equal(server.token, 'a-test-token-that-is-long-enough', 'a given token is used')
  const headers = { authorization: 'Bearer a-test-token-that-is-long-enough' }
  t.match(await (await fetch(new URL('api/backups', server.url), { headers })).json(), { sets: [], note: /without a config/ }, 'no backup sets: said')
  t.match(await (await fetch(new URL('api/certificates', server.url), { headers })).json(), { certificates: [], note: /no Kubernetes API/ }, 'no API: said')
  t.match(await (await fetch(new URL('api/dead-letters', server.url), { headers })).json(), { deadLetters: [] })

  for (const id of ['one', 'two', 'three']) feed.accepted(new CloudEvent<unknown>({ specversion: '1.0', id, source: '/test', type: 'dev.caretaker.test.thing' }, false))
  const controller = new AbortController()
  const res = await fetch(new URL('api/events?after=1', server.url), { headers, signal: controller.signal })
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let text = ''
  while (!text.includes(': live')) text += (await reader.read()).value ?? ''
  controller.abort()
  t.same([...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]), ['2', '3'], 'a page that saw item 1 gets what came after it')

  const head = await fetch(server.url, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal((await fetch(new URL('favicon.ico', server.url))).status, 404, 'nothing else is served')
  const post = await fetch(server.url, { method: 'POST' })
  t.equal(post.status, 405)
  t.match(await post.json(), { error: 'method_not_allowed' })

  const port = Number(new URL(server.url).port)
  await t.rejects(startConsole({ port, state: state(dir), stateDir: dir, env: {}, feed, kubeConfig: undefined, verifyBackupConfig: undefined, logger: createLogger({ level: 'silent' }) }), { code: 'EADDRINUSE' }, 'a taken port fails the start')
})
