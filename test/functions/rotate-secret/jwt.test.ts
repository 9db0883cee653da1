import { createHmac, timingSafeEqual } from 'node:crypto'
import t from 'tap'
import { CoreV1Api } from '@kubernetes/client-node'
import type { RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { leaksIn, startPlatform, vaultValues } from './platform.ts'

// A JWT signing key and a session secret (the runbooks' 180 days) rotated end
// to end: the sweep finds the key due and the session secret not, Vault gets
// a new version, the ExternalSecret's Secret carries it, the consuming
// Deployment gets a rollout restart; what the consumer then reads from its
// Secret signs tokens (HS256, RFC 7515/7519) and session cookies
// (HMAC-SHA256) that verify with the key in Vault, while those signed with
// the old key no longer do. The reply says all of it.

const DAY = 86_400_000
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString()
const oldKey = 'b2xkLXNpZ25pbmcta2V5LW9mLXRoZS1hcGktMDEyMzQ1Njc4OWFiY2RlZg=='
const oldSession = 'b2xkLXNlc3Npb24tc2VjcmV0LW9mLXRoZS13ZWItMDEyMzQ1Njc4OWFi'

const config: Pick<RotateSecretConfig, 'secrets'> = {
  secrets: [
    {
      name: 'api-jwt', vault: { mount: 'secret', path: 'production/api/jwt' }, keys: ['signingKey'], interval: '180d',
      generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
      externalSecrets: [{ namespace: 'production', name: 'api-jwt' }],
      consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api' }],
    },
    {
      name: 'web-session', vault: { mount: 'secret', path: 'production/web/session' }, keys: ['sessionSecret'], interval: '180d',
      generate: { bytes: 48, encoding: 'base64' }, target: { kind: 'generated' },
      externalSecrets: [{ namespace: 'production', name: 'web-session' }],
      consumers: [{ kind: 'Deployment', namespace: 'production', name: 'web' }],
    },
  ] as RotateSecretConfig['secrets'],
}
const p = await startPlatform(config)
t.teardown(() => p.close())
p.vault.putSecret('secret', 'production/api/jwt', { signingKey: oldKey }, { 'rotated-at': ago(181) })
p.vault.putSecret('secret', 'production/web/session', { sessionSecret: oldSession }, { 'rotated-at': ago(179) })
await p.externalSecret('production', 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
await p.externalSecret('production', 'web-session', [{ secretKey: 'SESSION_SECRET', path: 'production/web/session', property: 'sessionSecret' }])
p.deployment('production', 'api')
p.deployment('production', 'web')
await p.kube.controllers.idle()

// HS256 as RFC 7515 §A.1 computes it; the key material is the base64-decoded bytes of the secret.
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url')
const hmac = (key: string, data: string) => createHmac('sha256', Buffer.from(key, 'base64')).update(data).digest()
function signJwt(claims: Record<string, unknown>, key: string): string {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`
  return `${input}.${b64url(hmac(key, input))}`
}
function verifyJwt(token: string, key: string): Record<string, unknown> | undefined {
  const [header, payload, signature] = token.split('.')
  if (!header || !payload || !signature) return undefined
  if ((JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string }).alg !== 'HS256') return undefined
  const expected = hmac(key, `${header}.${payload}`)
  const given = Buffer.from(signature, 'base64url')
  return given.length === expected.length && timingSafeEqual(given, expected) ? JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown> : undefined
}
// A signed session cookie: value.signature, HMAC-SHA256 over the value.
const signCookie = (value: string, key: string) => `${value}.${b64url(hmac(key, value))}`
const verifyCookie = (cookie: string, key: string) => {
  const dot = cookie.lastIndexOf('.')
  const expected = b64url(hmac(key, cookie.slice(0, dot)))
  return cookie.slice(dot + 1) === expected
}

/** What a consumer reads once restarted: the value of its synced Kubernetes Secret. */
const consumerReads = async (name: string, key: string) => {
  const s = await p.admin.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'production', name })
  return Buffer.from(s.data![key]!, 'base64').toString('utf8')
}
const inVault = (path: string, key: string) => String(p.vault.getSecret('secret', path)![key])

t.test('the sweep rotates the due signing key end to end; a token signed with the new key verifies', async (t) => {
  const tokenBefore = signJwt({ sub: 'user-1', iat: 1 }, oldKey)
  t.ok(verifyJwt(tokenBefore, await consumerReads('api-jwt', 'JWT_SIGNING_KEY')), 'before: the consumer verifies tokens signed with the old key')
  const restartedBefore = (await p.deploymentOf('production', 'api')).restartedAt
  const res = await p.send('dev.knative.sources.ping', {}, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/rotate-secret-sweep' })
  t.equal(res.type, 'dev.caretaker.secret.sweep.completed')
  t.match(res.body, { due: 1, rotated: 1, failed: 0 })
  const rows = res.body?.secrets as Array<{ secret: string; due: boolean; reason: string }>
  t.match(rows.find((r) => r.secret === 'api-jwt'), { due: true, reason: /last rotated 181 days ago; the interval is 180d/ })
  t.match(rows.find((r) => r.secret === 'web-session'), { due: false, reason: /last rotated 179 days ago/ }, 'the session secret is not due yet')

  // The outcome event the sweep emitted says what happened.
  const event = p.sink.on('/broker').map((e) => JSON.parse(e.body.toString('utf8')) as Record<string, unknown>).find((e) => e.secret === 'api-jwt')
  t.match(event, {
    secret: 'api-jwt', trigger: 'sweep', target: { kind: 'generated' }, vault: { mount: 'secret', path: 'production/api/jwt', previousVersion: 1, version: 2 },
    externalSecrets: [{ namespace: 'production', name: 'api-jwt', synced: true }], consumers: [{ kind: 'Deployment', namespace: 'production', name: 'api', restarted: true }],
    lockoutWindowMs: 0, keys: ['signingKey'],
  }, 'the rotated event: new version, Secret synced, consumer restarted')
  t.ok(Date.parse(String(event?.dueAt)) - Date.parse(String(event?.rotatedAt)) === 180 * DAY, 'next due in 180 days')

  const key = inVault('production/api/jwt', 'signingKey')
  t.equal(Buffer.from(key, 'base64').length, 48, 'Vault: a new version with 48 random bytes')
  t.equal(p.vault.getSecret('secret', 'production/api/jwt', 1)!.signingKey, oldKey, 'the old version is kept in Vault\'s history')
  t.equal(await consumerReads('api-jwt', 'JWT_SIGNING_KEY'), key, 'the Kubernetes Secret carries it')
  const api = await p.deploymentOf('production', 'api')
  t.ok(api.restartedAt && api.restartedAt !== restartedBefore && api.observedGeneration >= api.generation && api.available === 2, 'the Deployment was rolled out again')
  t.equal((await p.deploymentOf('production', 'web')).restartedAt, undefined, 'the session secret\'s consumer was left alone')

  const token = signJwt({ sub: 'user-1', iat: Math.floor(Date.now() / 1000) }, key)
  t.match(verifyJwt(token, await consumerReads('api-jwt', 'JWT_SIGNING_KEY')), { sub: 'user-1' }, 'a token signed with the new key verifies with what the consumer reads')
  t.equal(verifyJwt(tokenBefore, key), undefined, 'one signed with the old key no longer does')
})

t.test('a session secret rotated on request: cookies signed with the new one verify', async (t) => {
  const res = await p.send('dev.caretaker.secret.rotate.requested', { secret: 'web-session', reason: 'suspected leak' })
  t.equal(res.type, 'dev.caretaker.secret.rotated', JSON.stringify(res.body))
  t.match(res.body, { trigger: 'request: suspected leak', vault: { version: 2 }, consumers: [{ name: 'web', restarted: true }] })
  t.same((res.body?.steps as Array<{ step: string; message: string }>).map((s) => s.step), ['lock', 'read', 'generate', 'apply', 'verify', 'write', 'sync', 'restart'])
  const secret = await consumerReads('web-session', 'SESSION_SECRET')
  t.equal(secret, inVault('production/web/session', 'sessionSecret'))
  t.ok(verifyCookie(signCookie('session-42', secret), inVault('production/web/session', 'sessionSecret')))
  t.notOk(verifyCookie(signCookie('session-42', oldSession), secret), 'a cookie signed with the old secret is refused')
  t.ok((await p.deploymentOf('production', 'web')).restartedAt)
})

t.test('no key in any log line, reply, event or metric', async (t) => {
  const values = vaultValues(p.vault, 'secret', ['production/api/jwt', 'production/web/session'])
  t.equal(values.size, 4)
  t.same(await leaksIn(p, values, []), { logs: { values: 0, shapes: [] }, replies: { values: 0, shapes: [] }, emitted: { values: 0, shapes: [] }, metrics: { values: 0, shapes: [] } })
})
