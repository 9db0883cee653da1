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

t.test('every refusal is the catalogue\'s, and changes nothing', async (t) => {
  const dir = t.testdir()
  const server = await startConsole({ port: 0, state: state(dir), stateDir: dir, env: {}, feed: new ConsoleFeed(), kubeConfig: undefined, verifyBackupConfig: undefined, logger: createLogger({ level: 'silent' }), token: 'a-test-token-that-is-long-enough' })
  t.teardown(() => server.close())
  const auth = { authorization: 'Bearer a-test-token-that-is-long-enough' }
  const json = { ...auth, 'content-type': 'application/json' }
  const refused = async (res: Response, status: number, error: string, message: RegExp, what: string): Promise<void> => {
    t.equal(res.status, status, what)
    t.match(res.headers.get('content-type'), /^application\/json/, `${what}: JSON`)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: with the security headers`)
    const body = await res.json() as Record<string, unknown>
    t.same(Object.keys(body).sort(), ['error', 'message'], `${what}: the catalogue's shape`)
    t.match(body, { error, message }, `${what}: ${error}, saying what to fix`)
  }
  const run = (init: RequestInit) => fetch(new URL('api/run', server.url), { method: 'POST', ...init })

  await refused(await run({ headers: json, body: JSON.stringify({ function: 'x'.repeat(70_000) }) }), 413, 'body_too_large', /over 65536 bytes/, 'a body over the limit')
  const chunks = new ReadableStream<Uint8Array>({ start(c) { for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode(' '.repeat(10_000))); c.close() } })
  await refused(await run({ headers: json, body: chunks, duplex: 'half' } as RequestInit), 413, 'body_too_large', /over 65536 bytes/, 'a chunked body over the limit, without a Content-Length')
  await refused(await run({ headers: json, body: '{"function": "prune-snapshots"' }), 400, 'invalid_request', /not valid JSON/, 'a malformed JSON body')
  await refused(await run({ headers: json, body: '{"function": "prune-snapshots", "__proto__": {"apply": true}}' }), 400, 'invalid_request', /__proto__/, 'a JSON body with a __proto__ key')
  await refused(await run({ headers: auth, body: 'prune-snapshots' }), 415, 'unsupported_media_type', /application\/json/, 'a body with no content type')
  await refused(await run({ headers: json }), 400, 'invalid_request', /name the function/, 'an empty JSON body is no body: the request says what it lacks')
  await refused(await run({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ function: 'x'.repeat(70_000) }) }), 401, 'unauthenticated', /Bearer/, 'without the token, refused before the body is read')

  await refused(await fetch(new URL('api/nothing', server.url), { headers: auth }), 404, 'not_found', /\/api\/nothing here: the console's API is \/api\/events/, 'an unknown API route')
  await refused(await fetch(new URL('nothing.html', server.url)), 404, 'not_found', /open \//, 'an unknown page')
  const getRun = await fetch(new URL('api/run', server.url), { headers: auth })
  t.equal(getRun.headers.get('allow'), 'POST', 'a 405 names the methods that are taken')
  await refused(getRun, 405, 'method_not_allowed', /\/api\/run takes POST/, 'GET on run')
  const postPage = await fetch(new URL('console.css', server.url), { method: 'POST' })
  t.equal(postPage.headers.get('allow'), 'GET, HEAD')
  await refused(postPage, 405, 'method_not_allowed', /takes GET/, 'POST on a page file')
  const unauthenticated = await fetch(new URL('api/functions', server.url))
  t.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer realm="caretaker-console"')
  await refused(unauthenticated, 401, 'unauthenticated', /Authorization: Bearer/, 'no token')

  const badUrl = 'api/dead-letters/%E0%A4%A/redeliver'
  await refused(await fetch(new URL(badUrl, server.url), { method: 'POST', headers: auth }), 400, 'invalid_request', /URL is not valid/, 'a URL that does not decode')
  await refused(await fetch(new URL(badUrl, server.url), { method: 'POST' }), 401, 'unauthenticated', /Bearer/, 'an API URL that does not decode, without the token: still refused for the token first')
  await refused(await fetch(new URL(`api/dead-letters/${'x'.repeat(300)}/redeliver`, server.url), { method: 'POST', headers: auth }), 400, 'invalid_request', /no dead letter with id x{300}:/, 'a long id reaches the command (no path-parameter limit refuses it)')

  const page = await fetch(server.url)
  const head = await fetch(server.url, { method: 'HEAD' })
  t.equal(head.headers.get('content-length'), String((await page.arrayBuffer()).byteLength), 'HEAD answers the length of what GET sends')
  t.equal((await head.arrayBuffer()).byteLength, 0, 'and no body')
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
})

t.test('the flow resumes after Last-Event-ID; close() ends open flows', async (t) => {
  const dir = t.testdir()
  const feed = new ConsoleFeed()
  const server = await startConsole({ port: 0, state: state(dir), stateDir: dir, env: {}, feed, kubeConfig: undefined, verifyBackupConfig: undefined, logger: createLogger({ level: 'silent' }), token: 'a-test-token-that-is-long-enough' })
  let closed = false
  t.teardown(async () => { if (!closed) await server.close() })
  for (const id of ['one', 'two', 'three']) feed.accepted(new CloudEvent<unknown>({ specversion: '1.0', id, source: '/test', type: 'dev.caretaker.test.thing' }, false))
  const res = await fetch(new URL('api/events', server.url), { headers: { authorization: 'Bearer a-test-token-that-is-long-enough', 'last-event-id': '2' } })
  t.equal(res.headers.get('x-content-type-options'), 'nosniff', 'the stream has the security headers too')
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let text = ''
  while (!text.includes(': live')) text += (await reader.read()).value ?? ''
  t.same([...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]), ['3'], 'a reconnecting page that saw item 2 gets item 3')

  await server.close()
  closed = true
  const drained = (async () => {
    try {
      while (!(await reader.read()).done) { /* what was still on its way */ }
    } catch {
      // the connection dropped: ended too
    }
  })()
  await t.resolves(drained, 'the open flow ended with close()')
  await t.rejects(fetch(server.url), 'nothing listens after close()')
})
