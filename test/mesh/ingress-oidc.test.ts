import { PassThrough } from 'node:stream'
import { CloudEvent } from 'cloudevents'
import t from 'tap'
import { createLogger } from '../../shared/logger.ts'
import { brokerAudience, ManualClock, MeshIssuer, type MeshOidc } from '../../sandbox/mesh/index.ts'
import { pingSourceOidcServiceAccount } from '../../sandbox/mesh/oidc.ts'
import { toBinaryMessage } from '../../shared/runtime/cloudevent-http.ts'
import { startBrokerToReceiver } from './receiver.ts'

// The broker ingress with Knative Eventing's authentication-oidc: as
// knative/eventing pkg/broker/ingress/ingress_handler.go and pkg/auth/verifier.go
// do it, the event is read first (400), then the token must verify for the
// Broker's audience (401 without one, with a wrong audience, expired, from
// another issuer, tampered), then come from the Broker's namespace (403:
// default-authorization-mode allow-same-namespace). With it disabled the
// ingress takes any event and ignores a token.

const NS = 'caretaker'
const AUDIENCE = brokerAudience(NS, 'caretaker')

async function mesh(t: Tap, oidc: MeshOidc) {
  const logs: string[] = []
  const destination = new PassThrough()
  destination.on('data', (c: Buffer) => logs.push(c.toString('utf8')))
  const clock = new ManualClock(new Date('2026-01-01T00:00:30Z'))
  const { mesh: m, receiver, url } = await startBrokerToReceiver(t, {
    namespace: NS, logger: createLogger({ level: 'debug', destination }), clock, oidc,
    moreYaml: `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: tick, namespace: ${NS} }
spec:
  schedule: "* * * * *"
  sink: { ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: caretaker } }
`,
  })
  return { mesh: m, receiver, clock, logText: () => logs.join(''), url }
}
type Tap = { testdir(): string; teardown(fn: () => unknown): void }

let n = 0
function post(url: string, authorization?: string, body?: CloudEvent<unknown>) {
  const m = toBinaryMessage(body ?? new CloudEvent<unknown>({ specversion: '1.0', id: `e-${++n}`, source: '/test/ingress-oidc', type: 'dev.caretaker.test.ping', data: {} }, false))
  return fetch(url, { method: 'POST', headers: { ...m.headers, ...(authorization ? { authorization } : {}) }, body: m.body as string })
}

t.test('enabled: only a token of the Broker\'s namespace for its audience gets in', async (t) => {
  const issuer = new MeshIssuer()
  const { mesh: m, receiver, logText, url } = await setupEnabled(t, issuer)
  const sa = { namespace: NS, name: 'notify' }
  const good = issuer.mint(sa, AUDIENCE)
  const expired = new MeshIssuer({ now: () => Date.now() - 7_200_000 })
  const tampered = (() => { const [h, p, s] = good.split('.') as [string, string, string]; const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>; claims.sub = 'system:serviceaccount:caretaker:admin'; return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}` })()
  const cases: Array<[string, string | undefined, number, RegExp]> = [
    ['no token', undefined, 401, /no JWT token/],
    ['a token for another audience', `Bearer ${issuer.mint(sa, 'serving.knative.dev/service/caretaker/notify')}`, 401, /expected audience/],
    ['a token for another Broker', `Bearer ${issuer.mint(sa, brokerAudience(NS, 'other'))}`, 401, /expected audience/],
    ['an expired token', `Bearer ${expired.mint(sa, AUDIENCE, 600)}`, 401, /failed to verify JWT/],
    ['a token of another issuer', `Bearer ${new MeshIssuer().mint(sa, AUDIENCE)}`, 401, /signature/],
    ['a tampered token', `Bearer ${tampered}`, 401, /signature/],
    ['not a JWT', 'Bearer opaque-token', 401, /malformed jwt/],
    ['another namespace\'s ServiceAccount', `Bearer ${issuer.mint({ namespace: 'production', name: 'app' }, AUDIENCE)}`, 403, /not part of the "caretaker" namespace/],
  ]
  for (const [what, authorization, status, message] of cases) {
    const res = await post(url, authorization)
    t.equal(res.status, status, what)
    t.match(((await res.json()) as { message: string }).message, message, `${what}: says why`)
  }
  await m.broker.idle()
  t.equal(receiver.requests.length, 0, 'none of them reached a Trigger')

  const bad = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(bad.status, 400, 'the event is read before the token, as the real ingress does')

  t.equal((await post(url, `Bearer ${good}`)).status, 202, 'the Broker\'s audience, from its namespace: accepted')
  t.equal((await post(`${m.ingressUrl}/`, `Bearer ${good}`)).status, 202, 'POST / takes a token for one of the mesh\'s Brokers')
  await m.broker.idle()
  t.equal(receiver.requests.length, 2)
  t.notMatch(logText(), good.split('.')[2]!, 'a token is never logged')
  t.match(logText(), /ingress refused the event \(authentication-oidc\)/, 'each refusal is logged with its reason')
})

async function setupEnabled(t: Tap, issuer: MeshIssuer) {
  return mesh(t, { mode: 'enabled', issuer, tokens: () => { throw new Error('no Trigger names an audience here') } })
}

t.test('enabled: a PingSource sends with its OIDC ServiceAccount\'s token for the Broker', async (t) => {
  const issuer = new MeshIssuer()
  const { mesh: m, receiver, clock } = await setupEnabled(t, issuer)
  t.equal(pingSourceOidcServiceAccount({ namespace: NS, name: 'tick' }).name, 'tick-oidc-sources.knative.dev-pingsource')
  clock.set(new Date('2026-01-01T00:01:30Z'))
  await m.pingSources.fireDue()
  await m.broker.idle()
  t.equal(receiver.requests.length, 1, 'the tick got through the ingress')
})

t.test('enabled without an issuer: the mesh cannot verify, so it does not start', async (t) => {
  await t.rejects(mesh(t, { mode: 'enabled', tokens: () => 'x' }), /no issuer/)
})

t.test('disabled: any event gets in, a token or not (the ingress does not look at it)', async (t) => {
  const { mesh: m, receiver, url } = await mesh(t, { mode: 'disabled' })
  t.equal((await post(url)).status, 202)
  t.equal((await post(url, 'Bearer whatever')).status, 202)
  await m.broker.idle()
  t.equal(receiver.requests.length, 2)
})

t.test('the issuer: claims of a projected ServiceAccount token', async (t) => {
  const issuer = new MeshIssuer()
  const token = issuer.mint({ namespace: NS, name: 'notify' }, AUDIENCE, 600)
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string; aud: string[]; exp: number; iat: number; iss: string }
  t.match(claims, { sub: 'system:serviceaccount:caretaker:notify', aud: [AUDIENCE], iss: issuer.issuer })
  t.equal(claims.exp - claims.iat, 600)
  t.same(issuer.verify(token, AUDIENCE).subject, 'system:serviceaccount:caretaker:notify')
  const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${token.split('.')[1]}.`
  t.throws(() => issuer.verify(none, AUDIENCE), /unsupported algorithm/, 'alg none is refused')
})
