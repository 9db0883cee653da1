import t from 'tap'
import type { V1Job, V1Pod } from '@kubernetes/client-node'
import { backupFindings, overallStatus, podFinding, podStatus, vaultFinding, WarningEventGroups } from '../../../functions/health-report/findings.ts'

// The daily check's judgements, table by table.

const now = new Date('2026-11-22T12:00:00Z')
const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000)
const GRACE = 15 * 60_000

function pod(phase: string, status: Partial<NonNullable<V1Pod['status']>> = {}, created = at(-48)): V1Pod {
  return { metadata: { name: 'p', namespace: 'n', creationTimestamp: created }, spec: { containers: [{ name: 'c' }] }, status: { phase, ...status } }
}
const container = (state: object, ready = false) => ({ name: 'c', image: 'i', imageID: '', ready, restartCount: 0, state })

t.test('pod status as kubectl shows it, and which pods are findings', async (t) => {
  const cases: Array<[string, V1Pod, string, boolean]> = [
    ['running', pod('Running', { containerStatuses: [container({ running: {} }, true)] }), 'Running', false],
    ['completed', pod('Succeeded', { containerStatuses: [container({ terminated: { exitCode: 0, reason: 'Completed' } })] }), 'Completed', false],
    ['crash loop in a Running pod', pod('Running', { containerStatuses: [container({ waiting: { reason: 'CrashLoopBackOff' } })] }), 'CrashLoopBackOff', true],
    ['evicted', pod('Failed', { reason: 'Evicted' }), 'Evicted', true],
    ['OOM killed', pod('Failed', { containerStatuses: [container({ terminated: { exitCode: 137, reason: 'OOMKilled' } })] }), 'OOMKilled', true],
    ['failed init container', pod('Pending', { initContainerStatuses: [container({ terminated: { exitCode: 1, reason: 'Error' } })] }), 'Init:Error', true],
    ['init container crash loop', pod('Pending', { initContainerStatuses: [container({ waiting: { reason: 'CrashLoopBackOff' } })] }), 'Init:CrashLoopBackOff', true],
    ['creating, just now', pod('Pending', { containerStatuses: [container({ waiting: { reason: 'ContainerCreating' } })] }, at(-0.1)), 'ContainerCreating', false],
    ['creating for two hours', pod('Pending', { containerStatuses: [container({ waiting: { reason: 'ContainerCreating' } })] }, at(-2)), 'ContainerCreating', true],
    ['image pull failing, just now', pod('Pending', { containerStatuses: [container({ waiting: { reason: 'ErrImagePull' } })] }, at(-0.1)), 'ErrImagePull', true],
    ['unschedulable for an hour', pod('Pending', {}, at(-1)), 'Pending', true],
  ]
  for (const [name, p, status, finding] of cases) {
    t.equal(podStatus(p).status, status, `${name}: ${status}`)
    t.equal(Boolean(podFinding(p, now, GRACE)), finding, `${name}: ${finding ? '' : 'not '}a finding`)
  }
})

t.test('Warning events are grouped by reason and object within the window', async (t) => {
  const groups = new WarningEventGroups(now, 24 * 3_600_000)
  const ev = (reason: string, name: string, count: number, last: Date, type = 'Warning', message = reason) => ({ metadata: { name: `${name}.${reason}` }, involvedObject: { kind: 'Pod', namespace: 'n', name }, reason, type, count, lastTimestamp: last, message })
  groups.add(ev('BackOff', 'a', 2, at(-5), 'Warning', 'older'))
  groups.add(ev('BackOff', 'a', 3, at(-1), 'Warning', 'newer'))
  groups.add(ev('BackOff', 'b', 1, at(-1)))
  groups.add(ev('Unhealthy', 'a', 1, at(-30)))
  groups.add(ev('Pulled', 'a', 1, at(-1), 'Normal'))
  groups.add({ metadata: { name: 'x' }, involvedObject: { kind: 'Node', name: 'w' }, reason: 'Rebooted', type: 'Warning', series: { count: 4, lastObservedTime: at(-2) }, eventTime: at(-6) })
  const found = groups.findings().map((f) => `${f.reason} ${f.object.kind}/${f.object.name} x${f.count} ${f.message}`)
  t.same(found.sort(), ['BackOff Pod/a x5 newer', 'BackOff Pod/b x1 BackOff', 'Rebooted Node/w x4 '].sort())
})

t.test('Vault health', async (t) => {
  t.equal(vaultFinding('v', { reachable: true, status: 200, sealed: false }), undefined)
  t.equal(vaultFinding('v', { reachable: true, status: 429, sealed: false, standby: true }), undefined, 'a standby is healthy')
  t.equal(vaultFinding('v', { reachable: true, status: 503, sealed: true })?.reason, 'Sealed')
  t.equal(vaultFinding('v', { reachable: true, status: 501, initialized: false })?.reason, 'NotInitialized')
  t.equal(vaultFinding('v', { reachable: true, status: 500 })?.reason, 'Unhealthy')
  t.equal(vaultFinding('v', { reachable: false, error: 'ECONNREFUSED' })?.reason, 'Unreachable')
})

t.test('backups: failed without a later success, or missing in the window', async (t) => {
  const job = (name: string, outcome: 'Complete' | 'Failed' | 'running', started: Date, owner = 'b'): V1Job => ({
    metadata: { name, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: owner, uid: 'u' }] },
    status: { startTime: started, ...(outcome === 'running' ? {} : { conditions: [{ type: outcome, status: 'True' }] }) },
  })
  const cj = { namespace: 'n', name: 'b' }
  const day = 24 * 3_600_000
  const reasons = (jobs: V1Job[]) => backupFindings(cj, jobs, now, day).map((f) => `${f.reason} ${f.object.name}`)
  t.same(reasons([job('j1', 'Complete', at(-3))]), [])
  t.same(reasons([job('j1', 'Failed', at(-3))]), ['BackupFailed j1'])
  t.same(reasons([job('j1', 'Failed', at(-5)), job('j2', 'Complete', at(-3))]), [], 'made good by a later success')
  t.same(reasons([job('j1', 'Complete', at(-5)), job('j2', 'Failed', at(-3))]), ['BackupFailed j2'], 'an earlier success does not excuse a later failure')
  t.same(reasons([job('j1', 'Complete', at(-30))]), ['BackupMissing b'])
  t.same(reasons([]), ['BackupMissing b'])
  t.same(reasons([job('j1', 'Complete', at(-3), 'other')]), ['BackupMissing b'], 'another CronJob\'s Job does not count')
  t.same(reasons([job('j1', 'running', at(-1))]), [], 'a backup running now is not missing')
})

t.test('the overall status', async (t) => {
  const f = (severity: 'warning' | 'critical') => ({ check: 'pods' as const, severity, object: { kind: 'Pod', name: 'p' }, reason: 'r', message: 'm' })
  t.equal(overallStatus([]), 'healthy')
  t.equal(overallStatus([f('warning')]), 'degraded')
  t.equal(overallStatus([f('warning'), f('critical')]), 'critical')
})
