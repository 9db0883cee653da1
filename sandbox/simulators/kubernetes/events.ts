// core/v1 Events the way client-go's event recorder writes them: one object per
// (source, involved object, type, reason, message); a repeat bumps count and lastTimestamp.
import type { ObjectStore, Obj } from './controllers.ts'

export type EventType = 'Normal' | 'Warning'

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z')
let seq = 0

export interface RecordedEvent { name: string, namespace: string, count: number }

export function recordEvent(store: ObjectStore, involved: Obj, type: EventType, reason: string, message: string, component: string): RecordedEvent {
  const m = (involved.metadata ?? {}) as Record<string, unknown>
  const namespace = typeof m.namespace === 'string' && m.namespace ? m.namespace : 'default'
  const involvedObject: Record<string, unknown> = {
    kind: involved.kind,
    ...(typeof m.namespace === 'string' && m.namespace ? { namespace: m.namespace } : {}),
    name: m.name,
    uid: m.uid,
    apiVersion: involved.apiVersion,
    resourceVersion: m.resourceVersion,
  }
  const same = store.list('v1', 'Event', namespace).find((e) => {
    const io = (e.involvedObject ?? {}) as Record<string, unknown>
    const src = (e.source ?? {}) as Record<string, unknown>
    return io.uid === involvedObject.uid && io.kind === involvedObject.kind && io.name === involvedObject.name &&
      src.component === component && e.type === type && e.reason === reason && e.message === message
  })
  const ts = now()
  if (same) {
    const count = Number(same.count ?? 1) + 1
    const updated = store.update({ ...same, count, lastTimestamp: ts, involvedObject })
    return { name: String((updated.metadata as Record<string, unknown>).name), namespace, count }
  }
  // client-go names events <involved name>.<hex unix nanoseconds>.
  const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(seq++ % 1_000_000)
  const name = `${String(m.name)}.${nanos.toString(16)}`
  store.create({
    apiVersion: 'v1', kind: 'Event',
    metadata: { name, namespace },
    involvedObject, reason, message, type,
    source: { component },
    count: 1, firstTimestamp: ts, lastTimestamp: ts,
    eventTime: null, reportingComponent: component, reportingInstance: '',
  })
  return { name, namespace, count: 1 }
}
