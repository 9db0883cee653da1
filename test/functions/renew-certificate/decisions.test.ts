import t from 'tap'
import {
  certificateRow, certificateState, mountsSecret, optedIn, reissue, renewalDecision, withManualTrigger,
  REQUESTED_AT_ANNOTATION, RESTARTED_REVISION_ANNOTATION, type Certificate,
} from '../../../functions/renew-certificate/certificates.ts'

// The pure decisions, table by table: when a renewal is requested, when a
// re-issue is followed, which workloads are restarted.

const now = new Date('2026-11-22T12:00:00Z')
const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000).toISOString()
const policy = { notReadyForMs: 3_600_000, expiryThresholdMs: 14 * 86_400_000, cooldownMs: 6 * 3_600_000, stuckIssuingMs: 3_600_000 }

function cert(status: Certificate['status'], annotations: Record<string, string> = {}): Certificate {
  return { metadata: { name: 'c', namespace: 'n', generation: 3, creationTimestamp: at(-1000), annotations }, spec: { secretName: 's' }, status }
}
const ready = (since = at(-100)) => ({ type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: since })
const notReady = (since: string, reason = 'DoesNotExist') => ({ type: 'Ready', status: 'False', reason, lastTransitionTime: since })

t.test('renewal decisions', async (t) => {
  const cases: Array<[string, Certificate, string]> = [
    ['healthy', cert({ conditions: [ready()], renewalTime: at(100) }), 'healthy'],
    ['no renewal time yet, Ready', cert({ conditions: [ready()] }), 'healthy'],
    ['not Ready for 2 h', cert({ conditions: [notReady(at(-2))] }), 'not-ready'],
    ['not Ready for exactly the threshold', cert({ conditions: [notReady(at(-1))] }), 'not-ready'],
    ['not Ready for 30 min', cert({ conditions: [notReady(at(-0.5))] }), 'not-ready-recently'],
    ['no conditions, created long ago', cert({}), 'not-ready'],
    ['renewal time passed', cert({ conditions: [ready()], renewalTime: at(-1) }), 'renewal-due'],
    ['renewal time passed, issuing', cert({ conditions: [ready(), { type: 'Issuing', status: 'True', reason: 'Renewing' }], renewalTime: at(-1) }), 'issuing'],
    ['not Ready, issuing', cert({ conditions: [notReady(at(-5)), { type: 'Issuing', status: 'True', reason: 'DoesNotExist' }] }), 'issuing'],
    ['issuing for 30 min', cert({ conditions: [notReady(at(-5)), { type: 'Issuing', status: 'True', reason: 'DoesNotExist', lastTransitionTime: at(-0.5) }] }), 'issuing'],
    ['issuing for 2 h: stuck', cert({ conditions: [notReady(at(-5)), { type: 'Issuing', status: 'True', reason: 'DoesNotExist', lastTransitionTime: at(-2) }] }), 'stuck'],
    ['renewing for exactly the threshold: stuck', cert({ conditions: [ready(), { type: 'Issuing', status: 'True', reason: 'Renewing', lastTransitionTime: at(-1) }], renewalTime: at(-3) }), 'stuck'],
    ['not Ready, issuance failed', cert({ conditions: [notReady(at(-5)), { type: 'Issuing', status: 'False', reason: 'Failed' }] }), 'not-ready'],
    ['not Ready, requested 2 h ago', cert({ conditions: [notReady(at(-5))] }, { [REQUESTED_AT_ANNOTATION]: at(-2) }), 'cooldown'],
    ['not Ready, requested 7 h ago', cert({ conditions: [notReady(at(-9))] }, { [REQUESTED_AT_ANNOTATION]: at(-7) }), 'not-ready'],
    ['due, requested 1 h ago', cert({ conditions: [ready()], renewalTime: at(-3) }, { [REQUESTED_AT_ANNOTATION]: at(-1) }), 'cooldown'],
  ]
  for (const [name, c, expected] of cases) {
    const d = renewalDecision(certificateState(c), now, policy)
    t.equal(d.renew ? d.reason : d.why, expected, name)
  }
})

t.test('the Issuing condition is set as cmctl renew sets it', async (t) => {
  const conditions = withManualTrigger([ready(), { type: 'Issuing', status: 'False', reason: 'Failed', message: 'x' }], 3, now)
  t.same(conditions, [ready(), { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered', lastTransitionTime: now.toISOString(), observedGeneration: 3 }])
})

t.test('re-issues: revision 1 is the first issuance; later ones are followed once', async (t) => {
  t.equal(reissue(certificateState(cert({ revision: 1 }))), undefined)
  t.equal(reissue(certificateState(cert({}))), undefined, 'never issued')
  t.same(reissue(certificateState(cert({ revision: 2 }))), { previous: 1, revision: 2 })
  t.equal(reissue(certificateState(cert({ revision: 4 }, { [RESTARTED_REVISION_ANNOTATION]: '4' }))), undefined)
  t.same(reissue(certificateState(cert({ revision: 6 }, { [RESTARTED_REVISION_ANNOTATION]: '4' }))), { previous: 4, revision: 6 })
})

t.test('workloads: mounted and opted in', async (t) => {
  t.ok(mountsSecret({ spec: { containers: [], volumes: [{ name: 'a', secret: { secretName: 's' } }] } }, 's'))
  t.ok(mountsSecret({ spec: { containers: [], volumes: [{ name: 'a', projected: { sources: [{ configMap: { name: 'x' } }, { secret: { name: 's' } }] } }] } }, 's'))
  t.notOk(mountsSecret({ spec: { containers: [], volumes: [{ name: 'a', secret: { secretName: 'other' } }] } }, 's'))
  t.notOk(mountsSecret(undefined, 's'))
  const key = 'caretaker.dev/restart-on-certificate-renewal'
  t.ok(optedIn({ [key]: 'true' }, 's'))
  t.ok(optedIn({ [key]: 'a, s' }, 's'))
  t.notOk(optedIn({ [key]: 'a,b' }, 's'))
  t.notOk(optedIn({ [key]: 'false' }, 's'))
  t.notOk(optedIn({}, 's'))
})

t.test('the report row: expiry in seconds and whether under the threshold', async (t) => {
  const row = certificateRow(certificateState(cert({ conditions: [ready()], notAfter: at(24 * 10), renewalTime: at(24 * 3), revision: 2 })), now, policy)
  t.match(row, { ready: true, expiring: true, expiresInSeconds: 10 * 86_400, revision: 2, notAfter: at(240), renewalTime: at(72) })
  t.match(certificateRow(certificateState(cert({ conditions: [ready()], notAfter: at(24 * 30) })), now, policy), { expiring: false })
  t.match(certificateRow(certificateState(cert({ conditions: [notReady(at(-1))] })), now, policy), { expiring: false, notAfter: null, expiresInSeconds: null })
})

t.test('the current CertificateRequest and whether cert-manager will finish it', async (t) => {
  const { currentRequest, requestState } = await import('../../../functions/renew-certificate/certificates.ts')
  const state = certificateState({ metadata: { name: 'c', namespace: 'n', uid: 'u-1' }, spec: { secretName: 's' }, status: { revision: 4 } })
  const req = (name: string, revision: string, uid: string, conditions: Array<Record<string, string>>) => ({ metadata: { name, annotations: { 'cert-manager.io/certificate-revision': revision }, ownerReferences: [{ kind: 'Certificate', name: 'c', uid }] }, status: { conditions: conditions as never } })
  const list = [req('c-4', '4', 'u-1', []), req('c-5-other', '5', 'u-2', []), req('c-5', '5', 'u-1', [{ type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' }])]
  t.equal(currentRequest(state, list)?.metadata.name, 'c-5', 'revision + 1, owned by this Certificate (by uid)')
  t.same(requestState(list[2]!), { name: 'c-5', reason: 'Pending', message: 'waiting', failed: false })
  t.equal(requestState(req('f', '5', 'u-1', [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'x' }])).failed, true)
  t.equal(requestState(req('d', '5', 'u-1', [{ type: 'Denied', status: 'True', reason: 'policy', message: 'no' }])).failed, true)
  t.equal(requestState(req('i', '5', 'u-1', [{ type: 'InvalidRequest', status: 'True', reason: 'BadCSR', message: 'no' }])).failed, true)
  t.equal(requestState(req('ok', '5', 'u-1', [{ type: 'Ready', status: 'True', reason: 'Issued', message: '' }])).failed, false)
})
