import { registerHooks } from 'node:module'
import t from 'tap'

// What a start does not load. The Kubernetes client is out of the start path: a function hosted with a
// Kubernetes API configured starts, answers its probes and validates events
// without loading @kubernetes/client-node; the client is loaded at the
// function's first API call.

const resolved: string[] = []
const schemaCompilers: string[] = []
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === '@kubernetes/client-node') resolved.push(context.parentURL ?? '')
    if (specifier === '@fastify/ajv-compiler' || specifier === '@fastify/fast-json-stringify-compiler') schemaCompilers.push(specifier)
    return next(specifier, context)
  },
})

// Imported only now, so that every import of theirs goes through the hook.
const { startTestFunction, binaryHeaders } = await import('../../sandbox/harness/function.ts')
const { default: cleanUp } = await import('../../functions/clean-up-resources/index.ts')

t.test('hosted with an API configured: the client is loaded at the first API call, not at start', async (t) => {
  // Nothing listens on port 1: the first call fails, after loading the client.
  const fn = await startTestFunction(cleanUp, { env: { CARETAKER_KUBE_SERVER: 'http://127.0.0.1:1', CARETAKER_KUBE_TOKEN: 'unused-token-unused' }, config: { namespaces: ['apps'] } })
  t.teardown(() => fn.stop())
  t.equal((await fetch(`${fn.url}/health/readiness`)).status, 200, 'ready')
  const refused = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested'), body: JSON.stringify({ namespaces: 'apps' }) })
  t.equal(refused.status, 400, 'an invalid event is refused before any API call')
  t.same(resolved, [], 'the client is not loaded by the start, the probes or a refused event')

  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested'), body: JSON.stringify({}) })
  t.not(res.status, 400, `the event is handled (${res.status}: the API cannot be reached)`)
  t.ok(resolved.length > 0, 'the first API call loaded the client')
  // No route declares a schema: Fastify's own schema compilers are never loaded either.
  t.same(schemaCompilers, [], 'Fastify\'s ajv and fast-json-stringify compilers are not loaded')
})
