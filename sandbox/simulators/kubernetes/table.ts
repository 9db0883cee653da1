// Server-side printing (Accept: application/json;as=Table;v=v1;g=meta.k8s.io), which
// kubectl asks for on `get`. Built-in kinds get the columns and cells of
// kube-apiserver's printers (kubernetes pkg/printers/internalversion/printers.go,
// release 1.32: AddHandlers and the print* functions); custom resources get
// their CRD's additionalPrinterColumns (printer-columns.ts), evaluated as
// apiextensions-apiserver's tableconvertor does. The server always prints the
// wide cells (pkg/printers/storage/storage.go generates with Wide: true);
// kubectl shows the priority-1 columns only with `-o wide`.
import type { ResourceInfo } from './resources.ts'
import { crdColumns } from './printer-columns.ts'
import type { PrinterColumn } from './printer-columns.ts'
import { formatLabelSelector } from './scale.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
type Rec = Record<string, unknown>
interface Column { name: string, type: string, format?: string, priority?: number, description?: string, cell: (o: Obj) => unknown }

/** Like apimachinery's duration.HumanDuration, which the API server uses for AGE cells. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`
  if (h < 48) return `${h}h`
  const d = Math.floor(h / 24)
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`
  if (d < 365 * 2) return `${d}d`
  return `${Math.floor(d / 365)}y`
}

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Rec)[k] : undefined), o)
const num = (v: unknown): number => (typeof v === 'number' ? v : 0)
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v as Rec[] : [])
/** translateTimestampSince: `<unknown>` for no time. */
const since = (v: unknown): string => { const t = Date.parse(str(v)); return Number.isNaN(t) ? '<unknown>' : humanDuration(Date.now() - t) }
const DESC = {
  name: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  age: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
}
const name: Column = { name: 'Name', type: 'string', format: 'name', description: DESC.name, cell: (o) => get(o, 'metadata.name') }
const ageCol: Column = { name: 'Age', type: 'string', description: DESC.age, cell: (o) => since(get(o, 'metadata.creationTimestamp')) }
const wide = (c: Omit<Column, 'priority'>): Column => ({ ...c, priority: 1 })
/** layoutContainerCells: container names and images, comma-separated. */
const containers = (path: string): Column[] => [
  wide({ name: 'Containers', type: 'string', description: 'Names of each container in the template.', cell: (o) => list(get(o, path)).map((c) => str(c.name)).join(',') }),
  wide({ name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', cell: (o) => list(get(o, path)).map((c) => str(c.image)).join(',') }),
]
/** metav1.FormatLabelSelector: `<none>` for an empty selector. */
const selectorCol = (path: string, asSelector = false): Column => wide({ name: 'Selector', type: 'string', cell: (o) => { const s = formatLabelSelector(get(o, path) as Parameters<typeof formatLabelSelector>[0]); return s || (asSelector ? '' : '<none>') } })
/** labels.FormatLabels: sorted k=v pairs, `<none>` when empty. */
const formatLabels = (m: unknown): string => { const e = Object.entries((m ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>' }
const condTrue = (o: Obj, type: string): boolean => { const c = list(get(o, 'status.conditions')).find((x) => x.type === type); return c?.status === 'True' }

/** printPod: READY, STATUS (the reason kubectl users know), RESTARTS with the last restart's age. */
function podCells(o: Obj): { cells: unknown[], conditions?: Rec[] } {
  const spec = (o.spec ?? {}) as Rec, status = (o.status ?? {}) as Rec
  const initSpecs = list(spec.initContainers)
  // A restartable init container (a sidecar: restartPolicy Always) counts as a container.
  const restartable = (n: unknown) => initSpecs.some((c) => c.name === n && c.restartPolicy === 'Always')
  let total = list(spec.containers).length + initSpecs.filter((c) => c.restartPolicy === 'Always').length
  let ready = 0, restarts = 0, sidecarRestarts = 0
  let lastRestart = 0, lastSidecarRestart = 0
  // The API server gives every Pod a phase when it is created (Pending: PrepareForCreate in
  // kubernetes pkg/registry/core/pod/strategy.go), so a stored Pod without one prints as Pending.
  const phase = str(status.phase) || 'Pending'
  let reason = str(status.reason) || phase
  if (list(status.conditions).some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated'
  const finished = (c: Rec) => Date.parse(str(get(c, 'lastState.terminated.finishedAt'))) || 0
  let initializing = false
  const inits = list(status.initContainerStatuses)
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i]!
    restarts += num(c.restartCount)
    lastRestart = Math.max(lastRestart, finished(c))
    if (restartable(c.name)) { sidecarRestarts += num(c.restartCount); lastSidecarRestart = Math.max(lastSidecarRestart, finished(c)) }
    const term = get(c, 'state.terminated') as Rec | undefined
    const waiting = get(c, 'state.waiting') as Rec | undefined
    if (term && num(term.exitCode) === 0) continue
    if (restartable(c.name) && c.started === true) { if (c.ready) ready++; continue }
    if (term) reason = str(term.reason) ? `Init:${str(term.reason)}` : num(term.signal) ? `Init:Signal:${num(term.signal)}` : `Init:ExitCode:${num(term.exitCode)}`
    else if (waiting && str(waiting.reason) && waiting.reason !== 'PodInitializing') reason = `Init:${str(waiting.reason)}`
    else reason = `Init:${i}/${initSpecs.length}`
    initializing = true
    break
  }
  if (!initializing || condTrue(o, 'Initialized')) {
    restarts = sidecarRestarts
    lastRestart = lastSidecarRestart
    let hasRunning = false
    const statuses = list(status.containerStatuses)
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!
      restarts += num(c.restartCount)
      lastRestart = Math.max(lastRestart, finished(c))
      const term = get(c, 'state.terminated') as Rec | undefined
      const waiting = get(c, 'state.waiting') as Rec | undefined
      if (waiting && str(waiting.reason)) reason = str(waiting.reason)
      else if (term && str(term.reason)) reason = str(term.reason)
      else if (term) reason = num(term.signal) ? `Signal:${num(term.signal)}` : `ExitCode:${num(term.exitCode)}`
      else if (c.ready && get(c, 'state.running')) { hasRunning = true; ready++ }
    }
    if (reason === 'Completed' && hasRunning) reason = condTrue(o, 'Ready') ? 'Running' : 'NotReady'
  }
  const deleting = get(o, 'metadata.deletionTimestamp') !== undefined
  if (deleting && status.reason === 'NodeLost') reason = 'Unknown'
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating'
  const restartsText = restarts !== 0 && lastRestart ? `${restarts} (${humanDuration(Date.now() - lastRestart)} ago)` : String(restarts)
  const gates = list(spec.readinessGates)
  const gatesText = gates.length ? `${gates.filter((g) => list(status.conditions).find((c) => c.type === g.conditionType)?.status === 'True').length}/${gates.length}` : '<none>'
  total = Math.max(total, 0)
  const cells = [get(o, 'metadata.name'), `${ready}/${total}`, reason, restartsText, since(get(o, 'metadata.creationTimestamp')),
    str(list(status.podIPs)[0]?.ip) || '<none>', str(spec.nodeName) || '<none>', str(status.nominatedNodeName) || '<none>', gatesText]
  const conditions = phase === 'Succeeded' ? [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]
    : phase === 'Failed' ? [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }] : undefined
  return { cells, ...(conditions ? { conditions } : {}) }
}
const POD_COLUMNS = ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']

/** printNode's STATUS: Ready/NotReady/Unknown from the Ready condition, then SchedulingDisabled when cordoned. */
function nodeStatus(o: Obj): string {
  const ready = list(get(o, 'status.conditions')).find((c) => c.type === 'Ready')
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown']
  if (get(o, 'spec.unschedulable') === true) status.push('SchedulingDisabled')
  return status.join(',')
}
/** findNodeRoles: node-role.kubernetes.io/<role> labels and the kubernetes.io/role label, sorted. */
function nodeRoles(o: Obj): string {
  const roles = new Set<string>()
  for (const [k, v] of Object.entries((get(o, 'metadata.labels') ?? {}) as Record<string, string>)) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length))
    else if (k === 'kubernetes.io/role' && v) roles.add(v)
  }
  return [...roles].sort().join(',') || '<none>'
}
const nodeAddress = (o: Obj, type: string): string => str(list(get(o, 'status.addresses')).find((a) => a.type === type)?.address) || '<none>'

/** helper.GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order. */
function accessModes(modes: unknown): string {
  const have = new Set(Array.isArray(modes) ? modes as string[] : [])
  return ([['ReadWriteOnce', 'RWO'], ['ReadOnlyMany', 'ROX'], ['ReadWriteMany', 'RWX'], ['ReadWriteOncePod', 'RWOP']] as const).filter(([m]) => have.has(m)).map(([, s]) => s).join(',')
}

/** An Event of either API (core/v1, or events.k8s.io/v1 converted back as the server's internal type is). */
function eventView(o: Obj): { first: string, last: string, count: number, type: string, reason: string, target: string, fieldPath: string, source: string, message: string } {
  const core = o.apiVersion === 'v1'
  const involved = ((core ? o.involvedObject : o.regarding) ?? {}) as Rec
  const src = ((core ? o.source : o.deprecatedSource) ?? {}) as Rec
  const firstTs = str(core ? o.firstTimestamp : o.deprecatedFirstTimestamp)
  const lastTs = str(core ? o.lastTimestamp : o.deprecatedLastTimestamp)
  const first = firstTs ? since(firstTs) : since(o.eventTime)
  let last = lastTs ? since(lastTs) : first
  let count = num(core ? o.count : o.deprecatedCount)
  const series = o.series as Rec | undefined
  if (series) { last = since(series.lastObservedTime); count = num(series.count) } else if (count === 0) count = 1
  const component = str(src.component) || str(o.reportingController) || str(o.reportingComponent)
  const host = str(src.host) || str(o.reportingInstance)
  return {
    first, last, count, type: str(o.type), reason: str(o.reason),
    target: str(involved.name) ? `${str(involved.kind).toLowerCase()}/${str(involved.name)}` : str(involved.kind).toLowerCase(),
    fieldPath: str(involved.fieldPath), source: host ? `${component}, ${host}` : component, message: str(core ? o.message : o.note).trim(),
  }
}
const eventColumns: Column[] = [
  { name: 'Last Seen', type: 'string', cell: (o) => eventView(o).last },
  { name: 'Type', type: 'string', cell: (o) => eventView(o).type },
  { name: 'Reason', type: 'string', cell: (o) => eventView(o).reason },
  { name: 'Object', type: 'string', cell: (o) => eventView(o).target },
  wide({ name: 'Subobject', type: 'string', cell: (o) => eventView(o).fieldPath }),
  wide({ name: 'Source', type: 'string', cell: (o) => eventView(o).source }),
  { name: 'Message', type: 'string', cell: (o) => eventView(o).message },
  wide({ name: 'First Seen', type: 'string', cell: (o) => eventView(o).first }),
  wide({ name: 'Count', type: 'string', cell: (o) => eventView(o).count }),
  wide({ ...name, name: 'Name' }),
]

/** printRoleBinding: ROLE as Kind/name; the subjects by kind (rbac.SubjectsStrings) in wide output. */
const subjects = (o: Obj, kind: string): string => list(o.subjects).filter((s) => s.kind === kind).map((s) => (kind === 'ServiceAccount' ? `${str(s.namespace)}/${str(s.name)}` : str(s.name))).join(', ')
const bindingColumns: Column[] = [name,
  { name: 'Role', type: 'string', cell: (o) => `${str(get(o, 'roleRef.kind'))}/${str(get(o, 'roleRef.name'))}` },
  ageCol,
  wide({ name: 'Users', type: 'string', cell: (o) => subjects(o, 'User') }),
  wide({ name: 'Groups', type: 'string', cell: (o) => subjects(o, 'Group') }),
  wide({ name: 'ServiceAccounts', type: 'string', cell: (o) => subjects(o, 'ServiceAccount') })]

const COLUMNS: Record<string, Column[]> = {
  'v1/Pod': POD_COLUMNS.map((n, i) => ({ name: n, type: 'string', ...(n === 'Name' ? { format: 'name', description: DESC.name } : {}), ...(i >= 5 ? { priority: 1 } : {}), cell: (o: Obj) => podCells(o).cells[i] })),
  'v1/Node': [name,
    { name: 'Status', type: 'string', description: 'The status of the node', cell: nodeStatus },
    { name: 'Roles', type: 'string', description: 'The roles of the node', cell: nodeRoles },
    ageCol,
    { name: 'Version', type: 'string', cell: (o) => str(get(o, 'status.nodeInfo.kubeletVersion')) },
    wide({ name: 'Internal-IP', type: 'string', cell: (o) => nodeAddress(o, 'InternalIP') }),
    wide({ name: 'External-IP', type: 'string', cell: (o) => nodeAddress(o, 'ExternalIP') }),
    wide({ name: 'OS-Image', type: 'string', cell: (o) => str(get(o, 'status.nodeInfo.osImage')) || '<unknown>' }),
    wide({ name: 'Kernel-Version', type: 'string', cell: (o) => str(get(o, 'status.nodeInfo.kernelVersion')) || '<unknown>' }),
    wide({ name: 'Container-Runtime', type: 'string', cell: (o) => str(get(o, 'status.nodeInfo.containerRuntimeVersion')) || '<unknown>' })],
  'v1/ConfigMap': [name, { name: 'Data', type: 'string', cell: (o) => Object.keys((o.data as Rec | undefined) ?? {}).length + Object.keys((o.binaryData as Rec | undefined) ?? {}).length }, ageCol],
  'v1/Secret': [name, { name: 'Type', type: 'string', cell: (o) => str(o.type) }, { name: 'Data', type: 'string', cell: (o) => Object.keys((o.data as Rec | undefined) ?? {}).length }, ageCol],
  // The API server always sets a Namespace's phase (Active until it is deleted).
  'v1/Namespace': [name, { name: 'Status', type: 'string', description: 'The status of the namespace', cell: (o) => str(get(o, 'status.phase')) || (get(o, 'metadata.deletionTimestamp') ? 'Terminating' : 'Active') }, ageCol],
  'v1/ServiceAccount': [name, { name: 'Secrets', type: 'string', cell: (o) => list(o.secrets).length }, ageCol],
  'v1/Service': [name,
    // The API server defaults spec.type to ClusterIP.
    { name: 'Type', type: 'string', cell: (o) => str(get(o, 'spec.type')) || 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str((get(o, 'spec.clusterIPs') as string[] | undefined)?.[0]) || str(get(o, 'spec.clusterIP')) || '<none>' },
    { name: 'External-IP', type: 'string', cell: (o) => { const type = str(get(o, 'spec.type')) || 'ClusterIP'; const ext = (get(o, 'spec.externalIPs') as string[] | undefined) ?? []; if (type === 'ExternalName') return str(get(o, 'spec.externalName')); if (type === 'LoadBalancer') { const lb = list(get(o, 'status.loadBalancer.ingress')).map((i) => str(i.ip) || str(i.hostname)).filter(Boolean).sort(); return [...lb, ...ext].join(',') || '<pending>' } return ext.join(',') || '<none>' } },
    { name: 'Port(s)', type: 'string', cell: (o) => list(get(o, 'spec.ports')).map((p) => (num(p.nodePort) > 0 ? `${num(p.port)}:${num(p.nodePort)}/${str(p.protocol) || 'TCP'}` : `${num(p.port)}/${str(p.protocol) || 'TCP'}`)).join(',') || '<none>' },
    ageCol,
    wide({ name: 'Selector', type: 'string', cell: (o) => formatLabels(get(o, 'spec.selector')) })],
  'v1/PersistentVolumeClaim': [name,
    { name: 'Status', type: 'string', cell: (o) => (get(o, 'metadata.deletionTimestamp') ? 'Terminating' : str(get(o, 'status.phase'))) },
    { name: 'Volume', type: 'string', cell: (o) => str(get(o, 'spec.volumeName')) },
    { name: 'Capacity', type: 'string', cell: (o) => (get(o, 'spec.volumeName') ? str(get(o, 'status.capacity.storage')) || '0' : '') },
    { name: 'Access Modes', type: 'string', cell: (o) => (get(o, 'spec.volumeName') ? accessModes(get(o, 'status.accessModes')) : '') },
    // helper.GetPersistentVolumeClaimClass: the beta annotation wins over spec.storageClassName.
    { name: 'StorageClass', type: 'string', description: 'StorageClass of the pvc', cell: (o) => str(get(o, 'metadata.annotations') && (get(o, 'metadata.annotations') as Rec)['volume.beta.kubernetes.io/storage-class']) || str(get(o, 'spec.storageClassName')) },
    { name: 'VolumeAttributesClass', type: 'string', description: 'VolumeAttributesClass of the pvc', cell: (o) => str(get(o, 'spec.volumeAttributesClassName')) || '<unset>' },
    ageCol,
    wide({ name: 'VolumeMode', type: 'string', cell: (o) => str(get(o, 'spec.volumeMode')) || '<unset>' })],
  'v1/Event': eventColumns,
  'events.k8s.io/v1/Event': eventColumns,
  'apps/v1/Deployment': [name,
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', cell: (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas') ?? 1)}` },
    { name: 'Up-to-date', type: 'string', cell: (o) => num(get(o, 'status.updatedReplicas')) },
    { name: 'Available', type: 'string', cell: (o) => num(get(o, 'status.availableReplicas')) },
    ageCol, ...containers('spec.template.spec.containers'), selectorCol('spec.selector', true)],
  'apps/v1/ReplicaSet': [name,
    { name: 'Desired', type: 'integer', cell: (o) => num(get(o, 'spec.replicas') ?? 1) },
    { name: 'Current', type: 'integer', cell: (o) => num(get(o, 'status.replicas')) },
    { name: 'Ready', type: 'integer', cell: (o) => num(get(o, 'status.readyReplicas')) },
    ageCol, ...containers('spec.template.spec.containers'), selectorCol('spec.selector')],
  'apps/v1/StatefulSet': [name, { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', cell: (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas') ?? 1)}` }, ageCol, ...containers('spec.template.spec.containers')],
  'apps/v1/DaemonSet': [name,
    { name: 'Desired', type: 'integer', cell: (o) => num(get(o, 'status.desiredNumberScheduled')) },
    { name: 'Current', type: 'integer', cell: (o) => num(get(o, 'status.currentNumberScheduled')) },
    { name: 'Ready', type: 'integer', cell: (o) => num(get(o, 'status.numberReady')) },
    { name: 'Up-to-date', type: 'integer', cell: (o) => num(get(o, 'status.updatedNumberScheduled')) },
    { name: 'Available', type: 'integer', cell: (o) => num(get(o, 'status.numberAvailable')) },
    { name: 'Node Selector', type: 'string', cell: (o) => formatLabels(get(o, 'spec.template.spec.nodeSelector')) },
    ageCol, ...containers('spec.template.spec.containers'), selectorCol('spec.selector')],
  'batch/v1/Job': [name,
    { name: 'Status', type: 'string', description: 'Status of the job.', cell: (o) => (condTrue(o, 'Complete') ? 'Complete' : condTrue(o, 'Failed') ? 'Failed' : get(o, 'metadata.deletionTimestamp') ? 'Terminating' : condTrue(o, 'Suspended') ? 'Suspended' : condTrue(o, 'FailureTarget') ? 'FailureTarget' : 'Running') },
    { name: 'Completions', type: 'string', cell: (o) => { const done = num(get(o, 'status.succeeded')); const c = get(o, 'spec.completions'); if (typeof c === 'number') return `${done}/${c}`; const p = num(get(o, 'spec.parallelism')); return p > 1 ? `${done}/1 of ${p}` : `${done}/1` } },
    { name: 'Duration', type: 'string', description: 'Time required to complete the job.', cell: (o) => { const s = Date.parse(str(get(o, 'status.startTime'))); if (Number.isNaN(s)) return ''; const e = Date.parse(str(get(o, 'status.completionTime'))); return humanDuration((Number.isNaN(e) ? Date.now() : e) - s) } },
    ageCol, ...containers('spec.template.spec.containers'), selectorCol('spec.selector')],
  'batch/v1/CronJob': [name,
    { name: 'Schedule', type: 'string', cell: (o) => str(get(o, 'spec.schedule')) },
    { name: 'Timezone', type: 'string', cell: (o) => str(get(o, 'spec.timeZone')) || '<none>' },
    // printBoolPtr; the API server defaults suspend to false (SetDefaults_CronJob).
    { name: 'Suspend', type: 'boolean', cell: (o) => (get(o, 'spec.suspend') === true ? 'True' : 'False') },
    { name: 'Active', type: 'integer', cell: (o) => list(get(o, 'status.active')).length },
    { name: 'Last Schedule', type: 'string', cell: (o) => (get(o, 'status.lastScheduleTime') ? since(get(o, 'status.lastScheduleTime')) : '<none>') },
    ageCol, ...containers('spec.jobTemplate.spec.template.spec.containers'), selectorCol('spec.jobTemplate.spec.selector')],
  'rbac.authorization.k8s.io/v1/RoleBinding': bindingColumns,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': bindingColumns,
  'coordination.k8s.io/v1/Lease': [name, { name: 'Holder', type: 'string', cell: (o) => str(get(o, 'spec.holderIdentity')) }, ageCol],
  'networking.k8s.io/v1/NetworkPolicy': [name, { name: 'Pod-Selector', type: 'string', cell: (o) => formatLabelSelector(get(o, 'spec.podSelector') as Parameters<typeof formatLabelSelector>[0]) || '<none>' }, ageCol],
}

// ---------------------------------------------------------------------------
// Custom resources: a JSONPath subset (what CRDs use: fields, escaped dots,
// ['quoted'] keys, [n], [*] and [?(@.field==value)] filters), first result.

function parsePath(path: string): Array<{ key: string } | { index: number } | { all: true } | { filter: string, value: string }> {
  const steps: ReturnType<typeof parsePath> = []
  let i = 0
  const p = path.trim().replace(/^\{|\}$/g, '')
  while (i < p.length) {
    if (p[i] === '.') {
      i++
      let key = ''
      while (i < p.length && p[i] !== '.' && p[i] !== '[') {
        if (p[i] === '\\' && i + 1 < p.length) { key += p[i + 1]; i += 2 } else key += p[i++]
      }
      if (key) steps.push({ key })
    } else if (p[i] === '[') {
      const end = p.indexOf(']', p.startsWith('[?(', i) ? p.indexOf(')', i) : i)
      const inner = p.slice(i + 1, end)
      i = end + 1
      let m
      if ((m = /^['"](.*)['"]$/.exec(inner))) steps.push({ key: (m[1] ?? '').replace(/\\\./g, '.') })
      else if (inner === '*') steps.push({ all: true })
      else if ((m = /^\?\(@\.([\w.]+)\s*==\s*['"]?([^'"]*)['"]?\)$/.exec(inner))) steps.push({ filter: m[1] ?? '', value: m[2] ?? '' })
      else steps.push({ index: Number(inner) })
    } else i++
  }
  return steps
}

function findResults(o: unknown, path: string): unknown[] {
  let cur: unknown[] = [o]
  for (const step of parsePath(path)) {
    const next: unknown[] = []
    for (const v of cur) {
      if ('key' in step) { if (v && typeof v === 'object' && !Array.isArray(v) && step.key in (v as Rec)) next.push((v as Rec)[step.key]) }
      else if ('index' in step) { if (Array.isArray(v)) { const x = v[step.index < 0 ? v.length + step.index : step.index] as unknown; if (x !== undefined) next.push(x) } }
      else if ('all' in step) { if (Array.isArray(v)) next.push(...v as unknown[]); else if (v && typeof v === 'object') next.push(...Object.values(v)) }
      else if (Array.isArray(v)) next.push(...(v as unknown[]).filter((x) => String(get(x, step.filter)) === step.value))
    }
    cur = next
  }
  return cur
}

/** tableconvertor's cell: nil when nothing matches; strings as JSONPath prints them; date as an age. */
function crdCell(c: PrinterColumn, o: Obj): unknown {
  const [value] = findResults(o, c.jsonPath)
  if (value === undefined || value === null) return null
  switch (c.type) {
    case 'string': return typeof value === 'object' ? JSON.stringify(value) : String(value)
    case 'date': { if (typeof value !== 'string') return null; const t = Date.parse(value); return Number.isNaN(t) ? '<invalid>' : humanDuration(Date.now() - t) }
    case 'integer': return typeof value === 'number' ? Math.trunc(value) : null
    case 'number': return typeof value === 'number' ? value : null
    case 'boolean': return typeof value === 'boolean' ? value : null
    default: return String(value)
  }
}

const gvk = (r: ResourceInfo) => `${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`
const BUILT_IN_GROUPS = new Set(['', 'apps', 'batch', 'coordination.k8s.io', 'networking.k8s.io', 'events.k8s.io', 'rbac.authorization.k8s.io', 'apiextensions.k8s.io'])

function columnsFor(r: ResourceInfo): Column[] {
  const builtIn = COLUMNS[gvk(r)]
  if (builtIn) return builtIn
  // A built-in kind without a printer of its own: NAME and AGE (the default table convertor).
  if (BUILT_IN_GROUPS.has(r.group)) return [name, { ...ageCol, name: 'Created At', type: 'date', cell: (o) => get(o, 'metadata.creationTimestamp') }]
  return [name, ...crdColumns(gvk(r)).map((c): Column => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0, cell: (o) => crdCell(c, o) }))]
}

export function wantsTable(accept: string | undefined): boolean {
  return /;\s*as=Table/.test(accept ?? '')
}

/** One object or a list as a meta.k8s.io/v1 Table; `includeObject` as the query says (default PartialObjectMetadata). */
export function toTable(r: ResourceInfo, result: Obj, includeObject: string | null): Obj {
  const items = Array.isArray(result.items) ? result.items as Obj[] : [result]
  const cols = columnsFor(r)
  const isPod = gvk(r) === 'v1/Pod'
  const listMeta = Array.isArray(result.items) ? (result.metadata ?? {}) : { resourceVersion: (result.metadata ?? {}).resourceVersion }
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
    rows: items.map((o) => {
      const pod = isPod ? podCells(o) : undefined
      return {
        cells: pod ? pod.cells : cols.map((c) => { const v = c.cell(o); return v === undefined ? '' : v }),
        ...(pod?.conditions ? { conditions: pod.conditions } : {}),
        ...(includeObject === 'None' ? {} : { object: includeObject === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } }),
      }
    }),
  }
}
