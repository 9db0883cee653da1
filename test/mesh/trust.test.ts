import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { CloudEvent } from 'cloudevents'
import t from 'tap'
import notify from '../../functions/notify/index.ts'
import { createLogger } from '../../shared/logger.ts'
import { MeshIssuer, startMesh, type Mesh } from '../../sandbox/mesh/index.ts'
import { brokerAudience, childName, triggerOidcServiceAccount } from '../../sandbox/mesh/oidc.ts'
import { freePort } from '../../shared/process/ports.ts'
import { serviceAudience, TRIGGER_OIDC_SUFFIX, type EventingOidc } from '../../shared/runtime/auth.ts'
import { toBinaryMessage } from '../../shared/runtime/cloudevent-http.ts'
import { defineFunction } from '../../shared/runtime/function.ts'
import { ProofKey } from '../../shared/runtime/proof.ts'
import { manifestRbac } from '../../sandbox/local/sandbox.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// The trust model end to end, through the local mesh and the project's own
// triggers/, in both of Knative Eventing's authentication-oidc modes:
// - disabled (Knative's default): deliveries carry no token and are taken as
//   the data plane's; a request (`*.requested`) acts only with Caretaker's proof;
// - enabled: every delivery, dead letters included, carries the Trigger's OIDC
//   token for the function's audience, checked by TokenReview;
// - manual runs: the caller's Kubernetes token (TokenReview), RBAC on the
//   Caretaker resource (SubjectAccessReview), then into the Broker with a proof.
// The API server is the simulator, under the RBAC of manifests/.

const root = fileURLToPath(new URL('../../', import.meta.url))
const NS = 'caretaker'
const ROTATE = 'dev.caretaker.secret.rotate.requested'

interface Seen { id: string; sender: string; method: string; by: unknown }

/** rotate-secret's contract (its type and schema) with a handler that only records: what matters is who got in. */
function standIn(seen: Seen[]) {
  return defineFunction<Record<string, never>>({
    name: 'rotate-secret',
    description: 'records the requests that reach it (trust tests)',
    accepts: [ROTATE],
    configSchema: { type: 'object' },
    setup: () => ({
      async handle(context, event) {
        seen.push({ id: event.id, sender: context.identity?.username ?? '', method: context.identity?.method ?? '', by: (event as unknown as Record<string, unknown>).caretakerby })
        return undefined
      },
    }),
  })
}

/** A function that asks for a rotation when it gets a tick, as respond-to-alert does after confirming an alert. */
const emitter = defineFunction<Record<string, never>>({
  name: 'emitter',
  description: 'emits a rotation request (trust tests)',
  accepts: ['dev.knative.sources.ping'],
  configSchema: { type: 'object' },
  setup: () => ({
    async handle(context) {
      const sent = await context.emit({ type: ROTATE, data: { secret: 'postgres-app' } }, 1)
      return context.reply({ type: 'dev.caretaker.test.emitted', data: { sent } })
    },
  }),
})

function binary(event: CloudEvent<unknown>, extra: Record<string, string> = {}): RequestInit {
  const m = toBinaryMessage(event)
  return { method: 'POST', headers: { ...m.headers, ...extra }, body: m.body as string }
}

function rotateEvent(id: string, extensions: Record<string, string> = {}, secret = 'postgres-app'): CloudEvent<unknown> {
  return new CloudEvent<unknown>({ specversion: '1.0', id, source: '/test/trust', type: ROTATE, datacontenttype: 'application/json', data: { secret }, ...extensions }, false)
}

async function answer(res: Response): Promise<{ status: number, error?: string, message?: string, details?: Record<string, unknown> }> {
  const text = await res.text()
  return { status: res.status, ...(text ? JSON.parse(text) as object : {}) }
}

t.test('Knative OIDC names as upstream makes them', async (t) => {
  t.equal(serviceAudience('caretaker', 'rotate-secret'), 'serving.knative.dev/service/caretaker/rotate-secret', 'GetAudience: group/kind/namespace/name, lower-cased')
  t.equal(triggerOidcServiceAccount({ name: 'rotate-secret-requests', namespace: NS }).name, `rotate-secret-requests${TRIGGER_OIDC_SUFFIX}`)
  const long = childName('a-trigger-name-that-is-rather-long', TRIGGER_OIDC_SUFFIX)
  t.equal(long.length, 63, 'kmeta.ChildName: a long name is hashed to 63 characters')
  t.notOk(long.endsWith(TRIGGER_OIDC_SUFFIX), 'and loses the suffix (so Trigger names stay short: test/deploy/auth.test.ts)')
})

for (const mode of ['disabled', 'enabled'] as const satisfies readonly EventingOidc[]) {
  t.test(`authentication-oidc ${mode}`, async (t) => {
    const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
    t.teardown(() => kube.close())
    for (const o of await manifestRbac(`${root}manifests`)) kube.store.seed(o)
    kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ops' } })
    // "Who may rotate a secret" is a RoleBinding: the on-call account gets caretaker-operator, the intern nothing.
    kube.store.seed({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'oncall-operators', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'caretaker-operator' },
      subjects: [{ kind: 'ServiceAccount', name: 'oncall', namespace: 'ops' }],
    })
    kube.store.seed({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'auditors', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'caretaker-viewer' },
      subjects: [{ kind: 'ServiceAccount', name: 'auditor', namespace: 'ops' }],
    })
    const mint = (namespace: string, name: string, audiences?: string[]) => kube.mintServiceAccountToken(namespace, name, audiences ? { audiences } : {})

    const key = randomBytes(32).toString('base64')
    const port = await freePort('127.0.0.1')
    // With OIDC on, the broker ingress takes only tokens for the Broker's audience: each function sends its
    // projected ServiceAccount token (the eventing-oidc component in the cluster; the mesh's issuer here).
    const issuer = mode === 'enabled' ? new MeshIssuer() : undefined
    const tokens = t.testdir()
    const stops: Array<() => void> = []
    t.teardown(() => { for (const stop of stops) stop() })
    const env = async (account: string): Promise<Record<string, string>> => {
      const file = `${tokens}/${account}`
      if (issuer) stops.push(await issuer.project(file, { namespace: NS, name: account }, brokerAudience(NS, 'caretaker')))
      return {
        CARETAKER_AUTH: 'tokenreview', CARETAKER_EVENTING_OIDC: mode, CARETAKER_NAMESPACE: NS, CARETAKER_PROOF_KEY: key,
        CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: mint(NS, account), K_SINK: `http://127.0.0.1:${port}/${NS}/caretaker`,
        CARETAKER_DRY_RUN: 'false', LOG_LEVEL: 'info',
        ...(issuer ? { CARETAKER_SINK_TOKEN_FILE: file } : {}),
      }
    }
    const seen: Seen[] = []
    const rotate: TestFunction = await startTestFunction(standIn(seen), { env: await env('rotate-secret'), config: {} })
    t.teardown(() => rotate.stop())
    const dlq: TestFunction = await startTestFunction(notify, {
      env: await env('notify'),
      config: { cluster: 'test', channels: [{ name: 'log', kind: 'log' }], routes: [{ types: ['dev.caretaker.event.*'], minSeverity: 'info', channels: ['log'] }] },
    })
    t.teardown(() => dlq.stop())
    const mesh: Mesh = await startMesh({
      dir: `${root}triggers`, port,
      services: { 'rotate-secret': rotate.url, notify: dlq.url },
      logger: createLogger({ level: 'silent' }),
      sleep: async () => undefined,
      oidc: issuer ? { mode, issuer, tokens: (sa, audience) => mint(sa.namespace, sa.name, [audience]) } : { mode },
    })
    t.teardown(() => mesh.close())
    const broker = mesh.brokers[0]!.url

    /** What Knative's broker filter sends for Trigger rotate-secret-requests: a token only with OIDC on. */
    const delivery = (audience = serviceAudience(NS, 'rotate-secret'), account = triggerOidcServiceAccount({ name: 'rotate-secret-requests', namespace: NS }).name): Record<string, string> =>
      mode === 'enabled' ? { authorization: `Bearer ${mint(NS, account, [audience])}` } : {}

    t.test('manual runs: token, then RBAC, then into the Broker with a proof', async (t) => {
      const manual = `${rotate.url}/manual`
      const none = await answer(await fetch(manual, binary(rotateEvent('m-none'))))
      t.match(none, { status: 401, error: 'unauthenticated' }, 'no token: 401')
      const bogus = await answer(await fetch(manual, binary(rotateEvent('m-bogus'), { authorization: 'Bearer not-a-token' })))
      t.match(bogus, { status: 401, error: 'unauthenticated' }, 'a token the API server does not know: 401')
      const intern = await answer(await fetch(manual, binary(rotateEvent('m-intern'), { authorization: `Bearer ${mint('ops', 'intern')}` })))
      t.match(intern, { status: 403, error: 'forbidden', details: { verb: 'rotate', resource: 'rotate-secret', apiGroup: 'caretaker.dev', namespace: NS } }, 'authenticated, not authorized: 403')
      t.match(intern.message, /system:serviceaccount:ops:intern may not rotate rotate-secret: Kubernetes RBAC grants no verb "rotate"/, 'the answer says which RBAC permission is missing')
      const auditor = await answer(await fetch(manual, binary(rotateEvent('m-auditor'), { authorization: `Bearer ${mint('ops', 'auditor')}` })))
      t.equal(auditor.status, 403, 'caretaker-viewer may verify and report, not rotate')
      const forged = await answer(await fetch(manual, binary(rotateEvent('m-own-proof', { caretakerproof: 'x', caretakerexpiry: '9999999999', caretakerby: 'admin' }), { authorization: `Bearer ${mint('ops', 'oncall')}` })))
      t.match(forged, { status: 400, error: 'invalid_cloudevent' }, 'a caller cannot bring a proof of its own')
      const wrongType = await fetch(manual, binary(new CloudEvent({ specversion: '1.0', id: 'm-type', source: '/t', type: 'dev.caretaker.backup.verify.requested', data: { set: 'x' } }, false), { authorization: `Bearer ${mint('ops', 'oncall')}` }))
      t.equal(wrongType.status, 400, 'a type this function does not take: 400')
      const badData = await answer(await fetch(manual, binary(rotateEvent('m-data', {}, ''), { authorization: `Bearer ${mint('ops', 'oncall')}` })))
      t.match(badData, { status: 400, error: 'invalid_event_data' }, 'bad data: 400 before anything is asked of RBAC')
      await mesh.broker.idle()
      t.same(seen, [], 'none of these reached the function through the Broker')

      const ok = await answer(await fetch(manual, binary(rotateEvent('m-oncall'), { authorization: `Bearer ${mint('ops', 'oncall')}` })))
      t.match(ok, { status: 202, by: 'system:serviceaccount:ops:oncall', verb: 'rotate', accepted: { id: 'm-oncall', type: ROTATE } }, 'authorized: accepted and sent to the Broker')
      await mesh.broker.idle()
      t.equal(seen.length, 1, 'the Broker delivered it through the Trigger, and the function acted')
      t.match(seen[0], {
        id: 'm-oncall', by: 'system:serviceaccount:ops:oncall',
        ...(mode === 'enabled'
          ? { method: 'tokenreview', sender: `system:serviceaccount:${NS}:rotate-secret-requests${TRIGGER_OIDC_SUFFIX}` }
          : { method: 'data-plane' }),
      }, mode === 'enabled' ? 'delivered with the Trigger\'s OIDC identity' : 'delivered without a token, as Knative does with OIDC off')
      t.same(mesh.broker.deadLetters, [], 'nothing dead-lettered')
    })

    t.test('a request a function emits carries its proof, signed as that function', async (t) => {
      const fn = await startTestFunction(emitter, { env: await env('respond-to-alert'), config: {} })
      t.teardown(() => fn.stop())
      const before = seen.length
      const tick = new CloudEvent<unknown>({ specversion: '1.0', id: 'tick-1', source: '/test/trust', type: 'dev.knative.sources.ping', data: {} }, false)
      const res = await fetch(fn.url, binary(tick, delivery(serviceAudience(NS, 'emitter'))))
      t.equal(res.status, 200)
      await mesh.broker.idle()
      t.equal(seen.length, before + 1, 'the emitted request reached rotate-secret through the Broker, and it acted')
      t.equal(seen.at(-1)?.by, 'caretaker/emitter', 'with the emitting function as the one who asked')
    })

    t.test('a request posted to the Broker without a proof is refused and dead-lettered to an authenticated notify', async (t) => {
      const before = seen.length
      // With OIDC on, anything in the Broker's namespace with a ServiceAccount token for its audience.
      const sender: Record<string, string> = issuer ? { authorization: `Bearer ${issuer.mint({ namespace: NS, name: 'some-workload' }, brokerAudience(NS, 'caretaker'))}` } : {}
      const sent = await fetch(broker, binary(rotateEvent('b-unproven'), sender))
      t.equal(sent.status, 202, 'the Broker takes anything from inside the cluster')
      await mesh.broker.idle()
      t.equal(seen.length, before, 'the function did not act')
      t.match(mesh.broker.deadLetters.at(-1), { event: { id: 'b-unproven' }, lastStatus: 401, deadLetterStatus: 200 },
        mode === 'enabled' ? 'refused, then dead-lettered with the Trigger\'s token for notify\'s audience, which notify accepted' : 'refused, then dead-lettered to notify as a data-plane delivery')
    })

    t.test('forged, tampered and expired proofs are refused', async (t) => {
      const signer = new ProofKey(key, { ttlSeconds: 3600 })
      const signed = signer.sign(rotateEvent('p-1'), 'system:serviceaccount:ops:oncall') as CloudEvent<unknown>
      const tampered = signed.cloneWith({ data: { secret: 'redis-app' } }, false)
      const dryRunFlipped = signer.sign(rotateEvent('p-2', { dryrun: 'true' }), 'someone').cloneWith({ dryrun: 'false' } as Partial<CloudEvent<unknown>>, false)
      const foreign = new ProofKey(randomBytes(32), { ttlSeconds: 3600 }).sign(rotateEvent('p-3'), 'system:serviceaccount:ops:oncall')
      const expired = new ProofKey(key, { ttlSeconds: 60, now: () => Date.now() - 3_600_000 }).sign(rotateEvent('p-4'), 'someone')
      const cases: Array<[string, CloudEvent<unknown>, string]> = [
        ['no proof', rotateEvent('p-0'), 'proof_missing'],
        ['data changed after signing', tampered, 'proof_invalid'],
        ['dryrun turned off after signing', dryRunFlipped, 'proof_invalid'],
        ['signed with another key', foreign, 'proof_invalid'],
        ['expired', expired, 'proof_expired'],
      ]
      for (const [what, event, reason] of cases) {
        const res = await answer(await fetch(rotate.url, binary(event, delivery())))
        t.match(res, { status: 401, error: 'unauthenticated', details: { reason } }, `${what}: 401 ${reason}`)
      }
      const good = await fetch(rotate.url, binary(signed, delivery()))
      t.equal(good.status, 204, 'the untouched signed event is taken')
    })

    t.test('deliveries are authenticated as Knative makes them', async (t) => {
      const event = () => new ProofKey(key, { ttlSeconds: 3600 }).sign(rotateEvent(`d-${Math.random()}`), 'x')
      if (mode === 'disabled') {
        const withToken = await answer(await fetch(rotate.url, binary(event(), { authorization: `Bearer ${mint(NS, 'default')}` })))
        t.match(withToken, { status: 401, error: 'unauthenticated' }, 'Knative sends no token with OIDC off: a request with one is not a delivery')
        t.equal((await fetch(rotate.url, binary(event()))).status, 204, 'a delivery without a token is the data plane\'s')
      } else {
        t.match(await answer(await fetch(rotate.url, binary(event()))), { status: 401, error: 'unauthenticated' }, 'no token: 401')
        t.match(await answer(await fetch(rotate.url, binary(event(), delivery(serviceAudience(NS, 'notify'))))), { status: 401 }, 'a Trigger token for another function\'s audience: 401')
        t.match(await answer(await fetch(rotate.url, binary(event(), delivery('rotate-secret')))), { status: 401 }, 'the audience of the old scheme (the bare name): 401')
        t.match(await answer(await fetch(rotate.url, binary(event(), delivery(undefined, 'default')))), { status: 403, error: 'forbidden' }, 'the right audience from an account that is no Trigger\'s: 403')
        t.match(await answer(await fetch(rotate.url, binary(event(), { authorization: `Bearer ${mint('knative-eventing', 'mt-broker-filter', [serviceAudience(NS, 'rotate-secret')])}` }))), { status: 403 }, 'nor is Knative\'s own broker filter account: Knative sends as the Trigger')
        t.equal((await fetch(rotate.url, binary(event(), delivery()))).status, 204, 'the Trigger\'s token for this function\'s audience: taken')
      }
    })

    t.test('notify\'s /dead-letter is authenticated like POST /', async (t) => {
      const dead = () => rotateEvent(`dl-${Math.random()}`, { knativeerrordest: 'http://rotate-secret.caretaker.svc.cluster.local', knativeerrorcode: '503' })
      const url = `${dlq.url}/dead-letter`
      const notifyDelivery = delivery(serviceAudience(NS, 'notify'))
      if (mode === 'disabled') {
        t.equal((await fetch(url, binary(dead()))).status, 200, 'a data-plane dead letter is taken')
        t.match(await answer(await fetch(url, binary(dead(), { authorization: `Bearer ${mint(NS, 'default')}` }))), { status: 401, error: 'unauthenticated' }, 'one with a token is no Knative delivery')
      } else {
        t.match(await answer(await fetch(url, binary(dead()))), { status: 401, error: 'unauthenticated' }, 'no token: 401')
        t.match(await answer(await fetch(url, binary(dead(), delivery()))), { status: 401 }, 'a token for rotate-secret\'s audience: 401')
        t.match(await answer(await fetch(url, binary(dead(), { authorization: `Bearer ${mint(NS, 'default', [serviceAudience(NS, 'notify')])}` }))), { status: 403 }, 'an account that is no Trigger\'s: 403')
        t.equal((await fetch(url, binary(dead(), notifyDelivery))).status, 200, 'a Trigger\'s token for notify\'s audience: taken')
      }
    })
  })
}
