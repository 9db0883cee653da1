import t from 'tap'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// A delivery, not a request: requests need a proof besides (test/mesh/trust.test.ts).
const TYPE = 'dev.knative.sources.ping'
const AUDIENCE = 'caretaker-echo'

// What Knative Eventing's OIDC sender identity sends (authentication-oidc
// enabled): a ServiceAccount token for the receiver's audience, checked by
// TokenReview against the API server, from an allowed identity.
t.test('TokenReview authentication with an allow-list and an audience', async (t) => {
  const kube = await startKubernetesSimulator()
  t.teardown(() => kube.close())
  const fn = await startTestFunction(echo, {
    env: {
      CARETAKER_AUTH: 'tokenreview',
      CARETAKER_EVENTING_OIDC: 'enabled',
      CARETAKER_AUTH_ALLOWED: 'system:serviceaccount:knative-eventing:*, system:serviceaccount:ops:runbook-cli',
      CARETAKER_AUTH_AUDIENCE: AUDIENCE,
      CARETAKER_KUBE_SERVER: kube.url,
      CARETAKER_KUBE_TOKEN: kube.token,
    },
  })
  t.teardown(() => fn.stop())

  const send = async (token: string | undefined) => {
    const res = await fetch(fn.url, {
      method: 'POST',
      headers: { ...binaryHeaders(TYPE), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ message: 'hello' }),
    })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  const before = invocations.length

  const broker = await send(kube.mintServiceAccountToken('knative-eventing', 'mt-broker-filter', { audiences: [AUDIENCE] }))
  t.equal(broker.status, 200, 'a ServiceAccount matched by a namespace wildcard is let in')
  t.equal(invocations.length, before + 1, 'and the handler runs')

  const cli = await send(kube.mintServiceAccountToken('ops', 'runbook-cli', { audiences: [AUDIENCE] }))
  t.equal(cli.status, 200, 'an exactly listed ServiceAccount is let in')

  const other = await send(kube.mintServiceAccountToken('production', 'web', { audiences: [AUDIENCE] }))
  t.equal(other.status, 403, 'a valid token of an identity not on the allow-list is refused')
  t.equal(other.body.error, 'forbidden')
  t.match(String(other.body.message), /system:serviceaccount:production:web is not allowed/)

  const wrongAudience = await send(kube.mintServiceAccountToken('knative-eventing', 'mt-broker-filter', { audiences: ['some-other-service'] }))
  t.equal(wrongAudience.status, 401, 'a token minted for another audience is refused')
  t.equal(wrongAudience.body.error, 'unauthenticated')

  const apiServerToken = await send(kube.mintServiceAccountToken('knative-eventing', 'mt-broker-filter'))
  t.equal(apiServerToken.status, 401, 'a plain API-server token is not a token for this function')

  const forged = await send('not-a-real-token-at-all')
  t.equal(forged.status, 401, 'an unknown token is refused')
  t.equal(forged.body.error, 'unauthenticated')

  const none = await send(undefined)
  t.equal(none.status, 401, 'no token at all is refused')
  t.match(String(none.body.message), /Authorization: Bearer/)

  t.equal(invocations.length, before + 2, 'no refused request reached the handler')
  t.notMatch(fn.logText(), /not-a-real-token-at-all/, 'a presented token never reaches the logs')
})

t.test('the TokenReview API being down is a 503 the sender retries, not a 401', async (t) => {
  const kube = await startKubernetesSimulator()
  const fn = await startTestFunction(echo, {
    env: {
      CARETAKER_AUTH: 'tokenreview',
      CARETAKER_EVENTING_OIDC: 'enabled',
      CARETAKER_AUTH_ALLOWED: 'system:serviceaccount:knative-eventing:*',
      CARETAKER_KUBE_SERVER: kube.url,
      CARETAKER_KUBE_TOKEN: kube.token,
    },
  })
  t.teardown(() => fn.stop())
  const token = kube.mintServiceAccountToken('knative-eventing', 'mt-broker-filter')
  await kube.close()
  const res = await fetch(fn.url, {
    method: 'POST',
    headers: { ...binaryHeaders(TYPE), authorization: `Bearer ${token}` },
    body: JSON.stringify({ message: 'hello' }),
  })
  t.equal(res.status, 503)
  t.equal(((await res.json()) as { error: string }).error, 'dependency_unavailable')
})
