// What the controller stand-ins share: the store they act on, the annotations tests steer them
// with, and the helpers of their status writes.
import { createHash } from 'node:crypto'

export type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }
export type Rec = Record<string, unknown>

/** What the controllers need from the API server: object access that bypasses HTTP, auth and faults. */
export interface ObjectStore {
  get(apiVersion: string, kind: string, namespace: string, name: string): Obj | undefined
  list(apiVersion: string, kind: string, namespace?: string): Obj[]
  create(obj: Obj): Obj
  /** Replaces the main resource (status kept); stale resourceVersion -> 409. */
  update(obj: Obj): Obj
  updateStatus(obj: Obj): Obj
  onChange(listener: (e: { type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj }) => void): () => void
}

/** Set to "true" on a Deployment/StatefulSet/DaemonSet (rollout gets stuck) or a Job / CronJob jobTemplate (Job fails). */
export const FAIL_ANNOTATION = 'simulator.caretaker.dev/fail'
/** A Job with this annotation `true` runs until a test finishes it (a long backup): its pod never ends by itself. */
export const HOLD_ANNOTATION = 'simulator.caretaker.dev/hold'
export const CRONJOB_SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp'
export const FORCE_SYNC_ANNOTATION = 'force-sync'

export const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z')
export const meta = (o: Obj): Rec => (o.metadata ??= {})
export const annotations = (o: Obj | undefined): Rec => ((o?.metadata?.annotations ?? {}) as Rec)
export const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v))

// Like k8s.io/apimachinery's rand.SafeEncodeString: no vowels, no look-alike characters.
const SAFE = 'bcdfghjklmnpqrstvwxz2456789'
// JSON with sorted keys and without null or empty-object fields, so equal templates hash equally whatever
// key order a patch left and whatever zero values a Go client sent (creationTimestamp: null, resources: {}).
const empty = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(empty))
const canonical = (v: unknown): string => (Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
  : v && typeof v === 'object' ? `{${Object.keys(v).filter((k) => !empty((v as Rec)[k])).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Rec)[k])}`).join(',')}}` : JSON.stringify(v ?? null))
export function safeHash(value: unknown, length = 10): string {
  const bytes = createHash('sha256').update(canonical(value)).digest()
  return [...bytes.subarray(0, length)].map((b) => SAFE[b % SAFE.length]).join('')
}

export function condition(type: string, status: 'True' | 'False', reason: string, message: string, at: string, extra: Rec = {}): Rec {
  return { type, status, ...extra, lastTransitionTime: at, reason, message }
}

/** What every controller gets from the orchestrator (controllers.ts). */
export interface ControllerContext {
  store: ObjectStore
  /** How long a rollout, a Job or a sync takes. */
  delay: number
  clock: () => Date
  /** False when the controllers do not react on their own (explicit calls still work). */
  watching: boolean
  key: (kind: string, ns: string, name: string) => string
  /** Runs `fn` after `ms`, one reconcile at a time per key, in order. */
  later: (ms: number, k: string, fn: () => void | Promise<void>) => void
  /** Records an Event, best effort. */
  event: (o: Obj, type: 'Normal' | 'Warning', reason: string, message: string, component: string) => void
  /** Told to fail (failRollout/failJob) or annotated FAIL_ANNOTATION. */
  isFailing: (o: Obj, kind: string) => boolean
}
