import t from 'tap'
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node'
import { rolloutStatus } from '../../../shared/kubernetes/rollout.ts'

// rolloutStatus judges a rollout as `kubectl rollout status` does
// (kubernetes/kubectl pkg/polymorphichelpers/rollout_status.go), plus the
// generation a restart wrote.

const deployment = (status: V1Deployment['status'], generation = 2, replicas = 3): V1Deployment => ({ metadata: { name: 'web', generation }, spec: { replicas, selector: {}, template: {} }, status })

t.test('Deployment', async (t) => {
  t.match(rolloutStatus('Deployment', deployment({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), 2), { done: false, message: /spec update to be observed/ })
  t.match(rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), 3), { done: false }, 'the generation the restart wrote must be observed, even if the object read is older')
  t.match(rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3 }), 2), { done: false, message: '1 out of 3 new replicas have been updated' })
  t.match(rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 }), 2), { done: false, message: '1 old replicas are pending termination' })
  t.match(rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 }), 2), { done: false, message: '2 of 3 updated replicas are available' })
  t.same(rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), 2), { done: true, message: 'deployment "web" successfully rolled out' })
  const timedOut = rolloutStatus('Deployment', deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-x" has timed out progressing.' }] }), 2)
  t.match(timedOut, { done: false, failed: true, message: 'deployment "web" exceeded its progress deadline: ReplicaSet "web-x" has timed out progressing.' })
})

t.test('StatefulSet', async (t) => {
  const sts = (spec: Partial<NonNullable<V1StatefulSet['spec']>>, status: V1StatefulSet['status']): V1StatefulSet => ({ metadata: { name: 'db', generation: 2 }, spec: { replicas: 3, selector: {}, serviceName: 'db', template: {}, ...spec }, status })
  t.match(rolloutStatus('StatefulSet', sts({}, { replicas: 3, observedGeneration: 2, readyReplicas: 2 }), 2), { done: false, message: 'waiting for 1 pods to be ready' })
  t.match(rolloutStatus('StatefulSet', sts({}, { replicas: 3, observedGeneration: 2, readyReplicas: 3, currentRevision: 'db-a', updateRevision: 'db-b' }), 2), { done: false })
  t.match(rolloutStatus('StatefulSet', sts({}, { replicas: 3, observedGeneration: 2, readyReplicas: 3, currentRevision: 'db-b', updateRevision: 'db-b', currentReplicas: 3 }), 2), { done: true })
  t.match(rolloutStatus('StatefulSet', sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { replicas: 3, observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 }), 2), { done: false, message: /partitioned roll out to finish: 1 out of 2/ })
  t.match(rolloutStatus('StatefulSet', sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { replicas: 3, observedGeneration: 2, readyReplicas: 3, updatedReplicas: 2 }), 2), { done: true })
  t.match(rolloutStatus('StatefulSet', sts({ updateStrategy: { type: 'OnDelete' } }, { replicas: 3, observedGeneration: 2 }), 2), { done: false, failed: true, message: /only available for RollingUpdate/ })
})

t.test('DaemonSet', async (t) => {
  const ds = (status: V1DaemonSet['status'], type?: string): V1DaemonSet => ({ metadata: { name: 'agent', generation: 2 }, spec: { selector: {}, template: {}, ...(type ? { updateStrategy: { type } } : {}) }, status })
  t.match(rolloutStatus('DaemonSet', ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 }), 2), { done: false, message: '2 out of 3 new pods have been updated' })
  t.match(rolloutStatus('DaemonSet', ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 }), 2), { done: true })
  t.match(rolloutStatus('DaemonSet', ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 }, 'OnDelete'), 2), { failed: true })
})
