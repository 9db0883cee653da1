import t from 'tap'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { defineFunction } from '../../shared/runtime/function.ts'
import { startTestFunction } from '../../sandbox/harness/function.ts'

// A function's plain-HTTP route (httpPath): answered by handleHttp, with the
// runtime's error answers; functions without one keep only POST /.

const withRoute = defineFunction<Record<string, never>>({
  name: 'plain-http-test',
  description: 'test',
  accepts: [],
  httpPath: '/hook',
  configSchema: { type: 'object' },
  setup() {
    return {
      async handle() { return undefined },
      async handleHttp(req) {
        const text = req.body.toString()
        if (text === 'bad') throw new CaretakerError(Errors.InvalidRequest, 'bad body')
        if (text === 'boom') throw new Error('secret detail')
        return { status: 200, body: { echo: text, sink: req.sink.url ?? null }, headers: { 'x-test': '1' } }
      },
    }
  },
})
const without = defineFunction<Record<string, never>>({ name: 'no-route-test', description: 'test', accepts: [], configSchema: { type: 'object' }, setup: () => ({ async handle() { return undefined } }) })

const fn = await startTestFunction(withRoute, { config: {}, env: { K_SINK: 'http://127.0.0.1:9/broker' } })
t.teardown(() => fn.stop())
const post = (url: string, body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })

t.test('the route answers with the handler\'s status, body and headers', async (t) => {
  const res = await post(`${fn.url}/hook`, 'hello')
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-test'), '1')
  t.same(await res.json(), { echo: 'hello', sink: 'http://127.0.0.1:9/broker' })
})

t.test('errors are answered like events\' errors; unknown errors say nothing of themselves', async (t) => {
  const bad = await post(`${fn.url}/hook`, 'bad')
  t.equal(bad.status, 400)
  t.same(await bad.json(), { error: 'invalid_request', message: 'bad body' })
  const boom = await post(`${fn.url}/hook`, 'boom')
  t.equal(boom.status, 500)
  t.notMatch(await boom.text(), 'secret detail')
})

t.test('a function without httpPath has no such route', async (t) => {
  const other = await startTestFunction(without, { config: {} })
  t.teardown(() => other.stop())
  t.equal((await post(`${other.url}/hook`, 'x')).status, 404)
})
