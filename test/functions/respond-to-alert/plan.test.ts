import t from 'tap'
import type { ResolvedAction, Rule } from '../../../functions/respond-to-alert/config.ts'
import { actionId, compileRules, findRule, isLastAttempt, planActions, remediatedReason, targetOf } from '../../../functions/respond-to-alert/plan.ts'
import { scaledReplicas } from '../../../functions/respond-to-alert/actions/scale.ts'

// respond-to-alert's decisions are pure: a table each, no API.

const rule = (name: string, matchers: string[], actions: Rule['actions'] = [{ type: 'deletePod', name: '{{ $labels.pod }}' }]): Rule =>
  ({ name, matchers, namespace: '{{ $labels.namespace }}', allowedNamespaces: ['apps'], silence: false, actions })
const labels = { alertname: 'Crash', namespace: 'apps', pod: 'web-1', deployment: 'web' }

t.test('the first rule whose matchers all match is the one', async (t) => {
  const rules = compileRules([rule('other', ['alertname="Other"']), rule('crash', ['alertname="Crash"', 'namespace=~"app.*"']), rule('late', ['alertname="Crash"'])])
  t.equal(findRule(rules, labels)?.name, 'crash')
  t.equal(findRule(rules, { ...labels, alertname: 'None' }), undefined)
})

t.test('the target and its cooldown key are rendered from the labels', async (t) => {
  const target = targetOf(rule('crash', []), [{ type: 'deletePod', name: '{{ $labels.pod }}' }, { type: 'runCronJob', fromJob: 'job-{{ $labels.deployment }}' }, { type: 'notify', message: 'x' }], labels)
  t.same(target, { namespace: 'apps', target: 'apps/deletePod:web-1,runCronJob:job/job-web,notify', key: 'crash\0apps\0deletePod:web-1\0runCronJob:job/job-web\0notify' })
  t.throws(() => targetOf(rule('crash', []), [{ type: 'deletePod', name: '{{ $labels.missing }}' }], labels), 'a template naming a missing label throws')
})

t.test('the plan skips what an earlier attempt recorded done and resumes a written restart', async (t) => {
  const actions: ResolvedAction[] = [
    { type: 'deletePod', name: '{{ $labels.pod }}' },
    { type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' },
    { type: 'notify', message: 'told' },
  ]
  const plan = planActions(actions, 'apps', labels, [
    { index: 1, action: 'deletePod:apps/web-1', phase: 'done', message: 'deleted Pod apps/web-1' },
    { index: 2, action: 'restart:Deployment:apps/web', phase: 'restarted', generation: 7, message: 'restarted' },
    // A record of another action at the same place (the plan changed): not this one's.
    { index: 3, action: 'request:dev.caretaker.x', phase: 'done', message: 'emitted' },
  ])
  t.same(plan.map((p) => [p.index, p.id, p.done?.message, p.resume]), [
    [1, 'deletePod:apps/web-1', 'deleted Pod apps/web-1', undefined],
    [2, 'restart:Deployment:apps/web', undefined, { generation: 7 }],
    [3, 'notify', undefined, undefined],
  ])
  t.equal(actionId({ type: 'request', eventType: 'dev.caretaker.x', data: {} }, 'apps', labels), 'request:dev.caretaker.x')
})

t.test('the last attempt, the reply\'s reason and the scale bounds', async (t) => {
  t.same([1, 5, 6, 7].map((a) => isLastAttempt(a, 5)), [false, false, true, true])
  t.same(remediatedReason('crash', false, [{ action: 'delete Pod', target: 'apps/web-1', alreadyDone: true }, { action: 'notify' }]),
    { reason: 'rule crash matched; skipped as already done by an earlier attempt: delete Pod apps/web-1', skippedAsDone: ['delete Pod apps/web-1'] })
  t.equal(remediatedReason('crash', true, []).reason, 'dry-run: rule crash would act')
  t.same([0, 2, 5].map((current) => scaledReplicas({ delta: 2, min: 1, max: 5 }, current)), [2, 4, 5])
  t.equal(scaledReplicas({ delta: -3, min: 1, max: 5 }, 2), 1)
})
