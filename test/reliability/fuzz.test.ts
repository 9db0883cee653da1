import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { parse } from 'yaml'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { catalogue } from '../../shared/events/catalogue.ts'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { encodeHeaderValue } from '../../shared/runtime/cloudevent-http.ts'
import { startTestFunction } from '../../sandbox/harness/function.ts'
import { startReceiver } from '../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { HOSTILE_STRINGS, hostileVariants, nestedText } from './hostile.ts'
import { seededRandom } from './tools.ts'

// Every function's endpoint against malformed and near-miss input: never a
// 5xx, never a crash, never a side effect (no write to Kubernetes or Vault,
// no event sent on). Seeded, so a failure replays.

const root = fileURLToPath(new URL('../../', import.meta.url))
const CASES_PER_FUNCTION = Number(process.env.FUZZ_CASES ?? 400)
const BODY_LIMIT = 16 * 1024

const rand = seededRandom(Number(process.env.FUZZ_SEED ?? 20261122))
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!
const junk = (): unknown => pick<() => unknown>([
  () => null, () => rand(1e6) - 5e5, () => 'x'.repeat(rand(40)), () => [], () => [1, 'a', null], () => ({}), () => ({ a: { b: [] } }), () => true, () => 1.5e308, () => '\u0000\uffff',
])()

interface Case { name: string; headers: Record<string, string>; body: string | Buffer }

function envelope(type: string, data: unknown): Record<string, unknown> {
  return { specversion: '1.0', id: `fuzz-${rand(1e9)}`, source: '/fuzz', type, datacontenttype: 'application/json', data }
}

/** Variants of valid-looking data that its schema must refuse. */
function nearMisses(schema: Record<string, unknown>): unknown[] {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
  const required = (schema.required ?? []) as string[]
  const base: Record<string, unknown> = {}
  for (const [k, p] of Object.entries(props)) base[k] = p.type === 'string' ? 'x' : p.type === 'integer' || p.type === 'number' ? 1 : p.type === 'boolean' ? true : p.type === 'array' ? [] : p.type === 'object' ? {} : 'x'
  const out: unknown[] = [junk(), 'not an object', 42, [base]]
  if (schema.additionalProperties === false) out.push({ ...base, unexpectedField: 'x' })
  for (const k of Object.keys(props)) out.push({ ...base, [k]: props[k]!.type === 'string' ? 12345 : 'wrong type' })
  for (const k of required) out.push(Object.fromEntries(Object.entries(base).filter(([key]) => key !== k)))
  return out
}

function cases(fn: FunctionModule): Case[] {
  // A function with no CloudEvent type of its own (a plain-HTTP bridge) still gets the CloudEvent cases: all refused.
  const accepted = fn.definition.accepts.length > 0 ? fn.definition.accepts : ['dev.caretaker.fuzz.unaccepted']
  const out: Case[] = []
  const validate = (type: string, data: unknown): boolean => { try { fn.validator.check(type, data); return true } catch { return false } }
  for (let i = 0; out.length < CASES_PER_FUNCTION && i < CASES_PER_FUNCTION * 4; i++) {
    const type = pick(accepted)
    const schema = (catalogue.get(type)?.schema ?? fn.definition.eventTypes?.find((e) => e.type === type)?.schema ?? {}) as Record<string, unknown>
    switch (rand(9)) {
      case 0: out.push({ name: 'plain JSON', headers: { 'content-type': pick(['application/json', 'text/plain', 'application/xml', 'application/octet-stream']) }, body: JSON.stringify(junk()) }); break
      case 1: {
        const missing = pick(['ce-specversion', 'ce-id', 'ce-source', 'ce-type'])
        const h = Object.fromEntries(Object.entries({ 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'f', 'ce-source': '/fuzz', 'ce-type': type }).filter(([k]) => k !== missing))
        out.push({ name: 'binary, an attribute missing', headers: h, body: '{}' })
        break
      }
      case 2: out.push({ name: 'binary, bad specversion', headers: { 'content-type': 'application/json', 'ce-specversion': pick(['0.3', '2.0', '', '1']), 'ce-id': 'f', 'ce-source': '/fuzz', 'ce-type': type }, body: '{}' }); break
      case 3: {
        const text = JSON.stringify(envelope(type, {}))
        out.push({ name: 'structured, truncated', headers: { 'content-type': 'application/cloudevents+json' }, body: text.slice(0, rand(text.length - 1)) })
        break
      }
      case 4: {
        const env = envelope(type, {})
        env[pick(['id', 'source', 'type', 'specversion'])] = pick([42, null, '', ['x'], { a: 1 }])
        out.push({ name: 'structured, attribute of the wrong type', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(env) })
        break
      }
      case 5: out.push({ name: 'oversized', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(envelope(type, { pad: 'x'.repeat(BODY_LIMIT + rand(BODY_LIMIT)) })) }); break
      case 6: out.push({ name: 'unknown type', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `f${rand(1e9)}`, 'ce-source': '/fuzz', 'ce-type': `dev.caretaker.fuzz.${rand(100)}` }, body: JSON.stringify(junk()) }); break
      case 7: out.push({ name: 'batch or odd media type', headers: { 'content-type': pick(['application/cloudevents-batch+json', 'application/cloudevents+xml', 'multipart/form-data; boundary=x']) }, body: '[]' }); break
      default: {
        const data = pick(nearMisses(schema))
        if (validate(type, data)) continue // valid after all: not a bad input
        const structured = rand(2) === 0
        out.push(structured
          ? { name: `near-miss data for ${type}`, headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(envelope(type, data)) }
          : { name: `near-miss data for ${type}`, headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `f${rand(1e9)}`, 'ce-source': '/fuzz', 'ce-type': type }, body: JSON.stringify(data) })
      }
    }
  }
  return out
}

function post(url: string, c: Case): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: c.headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', () => resolve(-1))
    req.end(c.body)
  })
}

async function exampleConfig(name: string): Promise<unknown> {
  const path = join(root, 'manifests', name, 'config.yaml')
  if (!existsSync(path)) return undefined
  // The config itself (kustomize generates the ConfigMap from it).
  return parse(await readFile(path, 'utf8'))
}

const names = (await readdir(join(root, 'functions'), { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(root, 'functions', e.name, 'index.ts'))).map((e) => e.name).sort()

for (const name of names) {
  t.test(`fuzz ${name}`, async (t) => {
    const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
    const vault = await startVaultSimulator()
    const sink = await startReceiver(() => ({ status: 202 }))
    let writes = 0
    kube.onChange(() => { writes++ })
    t.teardown(async () => { await sink.close(); await vault.close(); await kube.close() })
    const fn = ((await import(pathToFileURL(join(root, 'functions', name, 'index.ts')).href)) as { default: FunctionModule }).default
    // The bridge's example is a Secret holding a placeholder token: fuzzed unauthenticated, on loopback.
    const config = name === 'alertmanager-bridge' ? { auth: 'none' } : await exampleConfig(name)
    const hosted = await startTestFunction(fn, {
      ...(config === undefined ? {} : { config }),
      env: {
        CARETAKER_BODY_LIMIT: String(BODY_LIMIT), CARETAKER_DRY_RUN: 'force', LOG_LEVEL: 'warn',
        CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken, K_SINK: sink.url,
      },
    })
    t.teardown(() => hosted.stop())
    const list = cases(fn)
    const bad: string[] = []
    const statuses = new Map<number, number>()
    for (const c of list) {
      const status = await post(hosted.url, c)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status < 400 || status >= 500) bad.push(`${c.name}: ${status}`)
    }
    // A plain-HTTP route (a webhook bridge) gets malformed payloads of its own.
    const httpPath = fn.definition.httpPath
    if (httpPath) {
      for (let i = 0; i < 100; i++) {
        const body = pick([JSON.stringify(junk()), '{"version":"4","alerts":', '{"alerts":[{"labels":42}]}', 'x'.repeat(rand(BODY_LIMIT * 2)), JSON.stringify({ version: '4', status: 'firing', alerts: [junk()] })])
        const c = { name: `plain HTTP ${httpPath}`, headers: { 'content-type': pick(['application/json', 'text/plain']) }, body }
        list.push(c)
        const status = await post(`${hosted.url}${httpPath}`, c)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (status < 400 || status >= 500) bad.push(`${c.name}: ${status}`)
      }
    }
    t.ok(list.length >= CASES_PER_FUNCTION / 2, `${list.length} malformed or near-miss requests (statuses ${JSON.stringify(Object.fromEntries(statuses))})`)
    t.same(bad.slice(0, 20), [], 'every one is a 4xx: never a 5xx, never accepted')
    t.equal((await fetch(`${hosted.url}/health/liveness`)).status, 200, 'the function is still alive')
    const vaultWrites = vault.requests.filter((r) => r.method !== 'GET' && !r.path.startsWith('/v1/sys/health')).length
    t.equal(writes, 0, 'nothing was written to Kubernetes')
    t.equal(vaultWrites, 0, 'nothing was written to Vault')
    t.equal(sink.requests.length, 0, 'no event was sent on')
  })
}

// Schema-valid hostile data, directly and through the local mesh: Unicode
// and control characters in every string field and in the subject and an
// extension (percent-encoded as the HTTP binding says), deep nesting, large
// bodies, replays and concurrent copies of one id. Valid or not, none may
// crash a process or earn a 5xx of its own making (a dependency the fuzz
// leaves unreachable may answer dependency_unavailable/failed: that is the
// environment, not the input).

const HOSTILE_CASES = Number(process.env.FUZZ_HOSTILE_CASES ?? 24)

interface HostileCase { name: string; headers: Record<string, string>; body: string }

function hostileCases(fn: FunctionModule): HostileCase[] {
  const out: HostileCase[] = []
  const valid = (type: string) => (data: unknown): boolean => { try { fn.validator.check(type, data); return true } catch { return false } }
  for (const type of fn.definition.accepts) {
    const schema = (catalogue.get(type)?.schema ?? fn.definition.eventTypes?.find((e) => e.type === type)?.schema ?? {}) as Record<string, unknown>
    const variants = hostileVariants(schema, valid(type), pick, 40)
    for (let i = 0; i < Math.min(variants.length, Math.ceil(HOSTILE_CASES / fn.definition.accepts.length)); i++) {
      const data = variants[i === 0 ? 0 : 1 + rand(variants.length - 1)]
      const subject = pick(HOSTILE_STRINGS)
      const id = `hostile-${rand(1e9)}`
      out.push(rand(2) === 0
        ? {
            name: `binary ${type}`,
            headers: {
              'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/fuzz/hostile', 'ce-type': type,
              'ce-subject': encodeHeaderValue(subject), 'ce-note': encodeHeaderValue(pick(HOSTILE_STRINGS)), 'ce-time': '2026-12-01T00:00:00.123456789+05:30',
            },
            body: JSON.stringify(data),
          }
        : { name: `structured ${type}`, headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ ...envelope(type, data), id, subject, note: pick(HOSTILE_STRINGS) }) })
    }
    const deep = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': `deep-${rand(1e9)}`, 'ce-source': '/fuzz/hostile', 'ce-type': type }
    // 3,000 levels stay under the body limit, so the depth limit (not the size) must refuse them.
    out.push({ name: `data 3,000 deep for ${type}`, headers: deep, body: nestedText(3_000) })
    out.push({ name: `a large body for ${type}`, headers: { ...deep, 'ce-id': `large-${rand(1e9)}` }, body: JSON.stringify({ pad: '€'.repeat(BODY_LIMIT) }) })
  }
  return out
}

function postFor(url: string, c: HostileCase): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: c.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        let error: string | undefined
        try { error = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: string }).error } catch { error = undefined }
        resolve({ status: res.statusCode ?? 0, error })
      })
    })
    req.on('error', () => resolve({ status: -1, error: 'connection failed' }))
    req.end(c.body)
  })
}

const own5xx = (r: { status: number; error: string | undefined }): boolean =>
  r.status < 0 || (r.status >= 500 && r.error !== 'dependency_unavailable' && r.error !== 'dependency_failed')

for (const name of names) {
  t.test(`hostile valid data: ${name}, directly and through the mesh`, async (t) => {
    const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
    const vault = await startVaultSimulator()
    const sink = await startReceiver(() => ({ status: 202 }))
    t.teardown(async () => { await sink.close(); await vault.close(); await kube.close() })
    const fn = ((await import(pathToFileURL(join(root, 'functions', name, 'index.ts')).href)) as { default: FunctionModule }).default
    // The bridge refuses the example's placeholder token: a real one stands in, so its webhook is fuzzed authenticated.
    const config = name === 'alertmanager-bridge' ? { bearerToken: randomBytes(24).toString('base64url') } : await exampleConfig(name)
    const hosted = await startTestFunction(fn, {
      ...(config === undefined ? {} : { config }),
      env: {
        CARETAKER_BODY_LIMIT: String(BODY_LIMIT), CARETAKER_DRY_RUN: 'force', LOG_LEVEL: 'warn',
        CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken, K_SINK: sink.url,
      },
    })
    t.teardown(() => hosted.stop())
    const list = hostileCases(fn)
    const bad: string[] = []
    const statuses = new Map<number, number>()
    const note = (c: HostileCase, r: { status: number; error: string | undefined }, how: string) => {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      if (own5xx(r)) bad.push(`${how} ${c.name}: ${r.status} ${r.error ?? ''}`)
    }
    for (const c of list) {
      const first = await postFor(hosted.url, c)
      note(c, first, 'direct')
      // A replay of the same event answers as the first did (its recorded outcome), or 429 while it still runs.
      const replay = await postFor(hosted.url, c)
      note(c, replay, 'replay')
      if (first.status < 500 && replay.status !== first.status && replay.status !== 429) bad.push(`replay ${c.name}: ${first.status} then ${replay.status}`)
    }
    // Concurrent copies of one id: one runs, the others wait their turn (429) or get its outcome.
    for (const c of list.slice(0, 3)) {
      const copy = { ...c, headers: { ...c.headers, ...(c.headers['ce-id'] ? { 'ce-id': `${c.headers['ce-id']}-c` } : {}) }, body: c.headers['ce-id'] ? c.body : c.body.replace(/"id":"([^"]+)"/, '"id":"$1-c"') }
      for (const r of await Promise.all(Array.from({ length: 4 }, () => postFor(hosted.url, copy)))) note(copy, r, 'concurrent')
    }

    // The same events through the local mesh: a Trigger per accepted type, no retries, so a 5xx shows as a dead letter.
    const dir = await mkdtemp(join(tmpdir(), 'caretaker-fuzz-mesh-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'mesh.yaml'), [
      'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: caretaker, namespace: caretaker }\n---',
      ...fn.definition.accepts.map((type, i) => `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: t${i}, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: ${type} } }
  subscriber: { uri: ${hosted.url} }
---`),
    ].join('\n'))
    const mesh = await startMesh({ dir, services: {}, logger: createLogger({ level: 'silent' }), requestTimeoutMs: 120_000 })
    t.teardown(() => mesh.close())
    for (const c of list) {
      const viaMesh = { ...c, headers: { ...c.headers, ...(c.headers['ce-id'] ? { 'ce-id': `${c.headers['ce-id']}-m` } : {}) }, body: c.headers['ce-id'] ? c.body : c.body.replace(/"id":"([^"]+)"/, '"id":"$1-m"') }
      const r = await postFor(`${mesh.ingressUrl}/caretaker/caretaker`, viaMesh)
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      if (r.status !== 202 && !(r.status === 413 && c.name.startsWith('a large body'))) bad.push(`mesh ingress ${c.name}: ${r.status} ${r.error ?? ''}`)
      await mesh.broker.idle()
    }
    for (const d of mesh.broker.deadLetters) {
      // A refusal (4xx) is final and dead-lettered, as Knative does; a 500 or a dropped connection is a fault.
      if (d.lastStatus === undefined || d.lastStatus === 500) bad.push(`through the mesh ${d.event.type}: ${d.lastStatus ?? d.lastError}`)
    }

    // The bridge takes Alertmanager's webhook, not events: valid notifications whose labels and annotations are hostile.
    if (fn.definition.httpPath === '/alertmanager') {
      for (let i = 0; i < HOSTILE_CASES; i++) {
        const labels = { alertname: pick(HOSTILE_STRINGS), namespace: pick(HOSTILE_STRINGS), [`l${i}`]: pick(HOSTILE_STRINGS) }
        const body = JSON.stringify({ version: '4', status: 'firing', receiver: pick(HOSTILE_STRINGS), groupLabels: labels, externalURL: 'http://alertmanager:9093', alerts: [{ status: 'firing', labels, annotations: { summary: pick(HOSTILE_STRINGS) }, startsAt: '2026-12-01T00:00:00Z', fingerprint: `f${i}` }] })
        const c = { name: 'hostile alert labels', headers: { 'content-type': 'application/json', ...(config && typeof config === 'object' && 'bearerToken' in config ? { authorization: `Bearer ${String((config as { bearerToken: unknown }).bearerToken)}` } : {}) }, body }
        list.push(c)
        const r = await postFor(`${hosted.url}/alertmanager`, c)
        note(c, r, 'webhook')
      }
    }
    t.ok(list.length > 0, `${list.length} hostile events, each sent twice, some four times at once, and once through the mesh (statuses ${JSON.stringify(Object.fromEntries(statuses))})`)
    t.same(bad.slice(0, 20), [], 'no crash, no 5xx of the function\'s own making')
    t.equal((await fetch(`${hosted.url}/health/liveness`)).status, 200, 'the function is still alive')
  })
}
