import { randomUUID } from 'node:crypto'
import { KubernetesObjectApi, Watch, type KubeConfig, type KubernetesObject, type V1APIResource } from '@kubernetes/client-node'
import { CloudEvent } from 'cloudevents'
import { parseAllDocuments } from 'yaml'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import { markWithoutTime } from './delivery.ts'
import { parseDestination, readManifestFiles, type Destination, type ManifestOrigin } from './manifests.ts'

/**
 * The ApiServerSource receive adapter, for `npm start` against a real cluster and
 * for tests against the Kubernetes simulator: list+watch the kinds an
 * ApiServerSource names and turn each add/update/delete into the CloudEvent
 * Knative's adapter (pkg/adapter/apiserver) sends. Like that adapter, the
 * initial list (and any relist after the watch expires) sends nothing: only
 * changes seen on the watch become events.
 */

export interface LabelSelectorRequirement { readonly key: string; readonly operator: string; readonly values?: readonly string[] }
export interface LabelSelector { readonly matchLabels?: Readonly<Record<string, string>>; readonly matchExpressions?: readonly LabelSelectorRequirement[] }

export interface ApiServerResource {
  readonly apiVersion: string
  readonly kind: string
  readonly selector?: LabelSelector
}

export type ApiServerSourceMode = 'Reference' | 'Resource'

export interface ApiServerSourceObject extends ManifestOrigin {
  readonly kind: 'ApiServerSource'
  readonly mode: ApiServerSourceMode
  readonly resources: readonly ApiServerResource[]
  readonly owner?: { readonly apiVersion?: string; readonly kind?: string }
  readonly namespaceSelector?: LabelSelector
  readonly sink: Destination
  /** spec.ceOverrides.extensions: set on every event. */
  readonly extensions?: Readonly<Record<string, string>>
  /** spec.serviceAccountName: the identity the source lists and watches with (Knative's default is `default`). */
  readonly serviceAccountName?: string
}

export const API_SERVER_EVENT_TYPES = {
  add: 'dev.knative.apiserver.resource.add',
  update: 'dev.knative.apiserver.resource.update',
  delete: 'dev.knative.apiserver.resource.delete',
  refAdd: 'dev.knative.apiserver.ref.add',
  refUpdate: 'dev.knative.apiserver.ref.update',
  refDelete: 'dev.knative.apiserver.ref.delete',
} as const

export type ChangeAction = 'add' | 'update' | 'delete'

type Rec = Record<string, unknown>
const isRecord = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v)
const invalid = (where: string, message: string) => new CaretakerError(Errors.InvalidConfig, `${where}: ${message}`)

// ---- Parsing --------------------------------------------------------------------------------

function parseSelector(raw: unknown, where: string): LabelSelector | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!isRecord(raw)) throw invalid(where, 'expected a label selector')
  const out: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {}
  if (raw.matchLabels !== undefined && raw.matchLabels !== null) {
    if (!isRecord(raw.matchLabels)) throw invalid(`${where}.matchLabels`, 'expected a map')
    out.matchLabels = Object.fromEntries(Object.entries(raw.matchLabels).map(([k, v]) => [k, String(v)]))
  }
  if (raw.matchExpressions !== undefined && raw.matchExpressions !== null) {
    if (!Array.isArray(raw.matchExpressions)) throw invalid(`${where}.matchExpressions`, 'expected a list')
    out.matchExpressions = raw.matchExpressions.map((e: unknown, i) => {
      if (!isRecord(e) || typeof e.key !== 'string' || typeof e.operator !== 'string') throw invalid(`${where}.matchExpressions[${i}]`, 'expected {key, operator, values}')
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) throw invalid(`${where}.matchExpressions[${i}].operator`, `unknown operator ${JSON.stringify(e.operator)}`)
      const values = Array.isArray(e.values) ? e.values.map(String) : undefined
      if ((e.operator === 'In' || e.operator === 'NotIn') && !values?.length) throw invalid(`${where}.matchExpressions[${i}].values`, `must be non-empty for ${e.operator}`)
      return { key: e.key, operator: e.operator, ...(values ? { values } : {}) }
    })
  }
  return out
}

/** A metav1.LabelSelector as the string form list/watch take (what metav1.LabelSelectorAsSelector renders). */
export function labelSelectorString(selector: LabelSelector | undefined): string {
  if (!selector) return ''
  const parts: string[] = []
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push(`${k}=${v}`)
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${[...(e.values ?? [])].sort().join(',')})`)
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${[...(e.values ?? [])].sort().join(',')})`)
    else if (e.operator === 'Exists') parts.push(e.key)
    else parts.push(`!${e.key}`)
  }
  return parts.sort().join(',')
}

/** One ApiServerSource manifest (sources.knative.dev/v1) as the adapter reads it. */
export function parseApiServerSource(object: Rec, file = '<object>'): ApiServerSourceObject {
  const metadata = isRecord(object.metadata) ? object.metadata : {}
  const name = typeof metadata.name === 'string' ? metadata.name : ''
  if (!name) throw invalid(`${file} ApiServerSource.metadata.name`, 'is required')
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : 'default'
  const where = `${file} ApiServerSource ${namespace}/${name}: spec`
  const spec = object.spec
  if (!isRecord(spec)) throw invalid(where, 'is required')
  const mode = spec.mode === undefined || spec.mode === null ? 'Reference' : spec.mode
  if (mode !== 'Reference' && mode !== 'Resource') throw invalid(`${where}.mode`, `expected Reference or Resource, got ${JSON.stringify(mode)}`)
  if (!Array.isArray(spec.resources) || spec.resources.length === 0) throw invalid(`${where}.resources`, 'needs at least one resource')
  const resources = spec.resources.map((r: unknown, i): ApiServerResource => {
    const w = `${where}.resources[${i}]`
    if (!isRecord(r) || typeof r.apiVersion !== 'string' || !r.apiVersion || typeof r.kind !== 'string' || !r.kind) throw invalid(w, 'needs apiVersion and kind')
    const selector = parseSelector(r.selector, `${w}.selector`)
    return { apiVersion: r.apiVersion, kind: r.kind, ...(selector ? { selector } : {}) }
  })
  const owner = isRecord(spec.owner) ? { ...(typeof spec.owner.apiVersion === 'string' ? { apiVersion: spec.owner.apiVersion } : {}), ...(typeof spec.owner.kind === 'string' ? { kind: spec.owner.kind } : {}) } : undefined
  const namespaceSelector = parseSelector(spec.namespaceSelector, `${where}.namespaceSelector`)
  if (spec.sink === undefined || spec.sink === null) throw invalid(`${where}.sink`, 'is required')
  const serviceAccountName = typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : undefined
  const overrides = isRecord(spec.ceOverrides) && isRecord(spec.ceOverrides.extensions) ? spec.ceOverrides.extensions : undefined
  return {
    kind: 'ApiServerSource', file, name, namespace, mode, resources,
    ...(owner && (owner.apiVersion || owner.kind) ? { owner } : {}),
    ...(namespaceSelector ? { namespaceSelector } : {}),
    sink: parseDestination(spec.sink, `${where}.sink`),
    ...(overrides ? { extensions: Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, String(v)])) } : {}),
    ...(serviceAccountName ? { serviceAccountName } : {}),
  }
}

/** Every ApiServerSource (sources.knative.dev/*) in the *.yaml / *.yml files under `dir`; other kinds are skipped. */
export async function loadApiServerSources(dir: string): Promise<ApiServerSourceObject[]> {
  const out: ApiServerSourceObject[] = []
  for (const { file, text } of await readManifestFiles(dir)) {
    for (const [index, document] of parseAllDocuments(text).entries()) {
      if (document.errors.length > 0) throw invalid(`${file} document ${index + 1}`, `is not valid YAML: ${document.errors[0]!.message.split('\n')[0]}`)
      const object: unknown = document.toJS()
      if (!isRecord(object) || object.kind !== 'ApiServerSource' || typeof object.apiVersion !== 'string' || !object.apiVersion.startsWith('sources.knative.dev/')) continue
      out.push(parseApiServerSource(object, file))
    }
  }
  return out
}

// ---- Events ---------------------------------------------------------------------------------

/** apimachinery's meta.UnsafeGuessKindToResource, which the adapter uses for `subject`. */
export function guessResource(kind: string): string {
  const singular = kind.toLowerCase()
  if (singular.endsWith('s')) return `${singular}es`
  if (singular.endsWith('y')) return `${singular.slice(0, -1)}ies`
  return `${singular}s`
}

/** The adapter's createSelfLink: `/apis/<apiVersion>/namespaces/<ns>/<guessed plural>/<name>`, core kinds included. */
export function selfLinkSubject(apiVersion: string, kind: string, namespace: string, name: string): string {
  const version = apiVersion.includes('.') && !apiVersion.includes('/') ? `${apiVersion}/versionUnknown` : apiVersion
  return `/apis/${version}/namespaces/${namespace}/${guessResource(kind)}/${name}`
}

/**
 * The CloudEvent for one change, attribute for attribute as the adapter's
 * MakeAddEvent/MakeUpdateEvent/MakeDeleteEvent build it: no `time`; extensions
 * kind, name, namespace, apiversion; data the object (Resource mode) or its
 * corev1.ObjectReference {kind, namespace, name, apiVersion} (Reference mode).
 */
export function apiServerEvent(action: ChangeAction, mode: ApiServerSourceMode, source: string, object: KubernetesObject, id: string = randomUUID(), extensions: Readonly<Record<string, string>> = {}): CloudEvent<unknown> {
  const apiVersion = object.apiVersion ?? ''
  const kind = object.kind ?? ''
  const name = object.metadata?.name ?? ''
  const namespace = object.metadata?.namespace ?? ''
  const ref = mode === 'Reference'
  const type = ref ? API_SERVER_EVENT_TYPES[action === 'add' ? 'refAdd' : action === 'update' ? 'refUpdate' : 'refDelete'] : API_SERVER_EVENT_TYPES[action]
  // corev1.ObjectReference marshals in field order with omitempty.
  const data = ref ? { kind, ...(namespace ? { namespace } : {}), name, apiVersion } : object
  const event = new CloudEvent<unknown>({
    specversion: '1.0', id, type, source,
    subject: selfLinkSubject(apiVersion, kind, namespace, name),
    datacontenttype: 'application/json',
    kind, name, namespace, apiversion: apiVersion,
    ...extensions,
    data,
  }, false)
  // The adapter sets no `time`; the SDK invents one, which must not go on the wire.
  markWithoutTime(event)
  return event
}

// ---- Watching -------------------------------------------------------------------------------

export type ApiServerSink = (event: CloudEvent<unknown>, source: ApiServerSourceObject) => void | Promise<void>

export interface ApiServerSourcesOptions {
  readonly sources: readonly ApiServerSourceObject[]
  /** The connection, or one per source: as in a cluster, each source lists and watches as its own ServiceAccount. */
  readonly kubeConfig: KubeConfig | ((source: ApiServerSourceObject) => KubeConfig)
  readonly sink: ApiServerSink
  readonly logger: Logger
  /** First wait after a failed list/watch; doubles up to 30 s. Default 1000 ms. */
  readonly retryDelayMs?: number
}

export interface ApiServerSources {
  /** Resolves once every watch has been opened for the first time. */
  readonly ready: Promise<void>
  close(): Promise<void>
}

// KubernetesObjectApi resolves kinds through discovery; its lookup is protected, so expose it.
class Discovery extends KubernetesObjectApi {
  lookup(apiVersion: string, kind: string): Promise<V1APIResource | undefined> { return this.resource(apiVersion, kind) }
}

function ownedBy(object: KubernetesObject, owner: ApiServerSourceObject['owner']): boolean {
  if (!owner) return true
  const group = (v: string | undefined) => (v && v.includes('/') ? v.split('/')[0] : '')
  return (object.metadata?.ownerReferences ?? []).some((r) =>
    (owner.kind === undefined || r.kind === owner.kind) && (owner.apiVersion === undefined || group(r.apiVersion) === group(owner.apiVersion)))
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms)
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
})

export function startApiServerSources(options: ApiServerSourcesOptions): ApiServerSources {
  const logger = options.logger.child({ component: 'apiserversource' })
  const clients = new Map<ApiServerSourceObject, { server: string, discovery: Discovery, watcher: Watch }>()
  const clientsOf = (source: ApiServerSourceObject) => {
    let c = clients.get(source)
    if (!c) {
      const kc = typeof options.kubeConfig === 'function' ? options.kubeConfig(source) : options.kubeConfig
      c = { server: kc.getCurrentCluster()?.server ?? '', discovery: kc.makeApiClient(Discovery), watcher: new Watch(kc) }
      clients.set(source, c)
    }
    return c
  }
  const stop = new AbortController()
  const open = new Set<AbortController>()
  const baseDelay = options.retryDelayMs ?? 1000

  const deliver = async (source: ApiServerSourceObject, action: ChangeAction, object: KubernetesObject) => {
    if (!ownedBy(object, source.owner)) return
    const event = apiServerEvent(action, source.mode, clientsOf(source).server, object, randomUUID(), source.extensions)
    try {
      await options.sink(event, source)
    } catch (err) {
      logger.error({ source: `${source.namespace}/${source.name}`, id: event.id, type: event.type, subject: event.subject, err }, 'apiserversource: failed to send cloudevent')
    }
  }

  /** One reflector: list (sends nothing), then watch from the list's resourceVersion; relist only when it expires. */
  async function reflect(source: ApiServerSourceObject, resource: ApiServerResource, namespace: string | undefined, firstOpen: () => void): Promise<void> {
    const where = { source: `${source.namespace}/${source.name}`, apiVersion: resource.apiVersion, kind: resource.kind, namespace }
    const labelSelector = labelSelectorString(resource.selector) || undefined
    const { discovery, watcher } = clientsOf(source)
    let delay = baseDelay
    let delivering = Promise.resolve()
    while (!stop.signal.aborted) {
      try {
        const info = await discovery.lookup(resource.apiVersion, resource.kind)
        if (!info) throw new Error(`the server has no ${resource.kind} in ${resource.apiVersion}`)
        const ns = info.namespaced ? namespace : undefined
        const base = resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`
        const path = ns ? `${base}/namespaces/${encodeURIComponent(ns)}/${info.name}` : `${base}/${info.name}`
        const list = await discovery.list(resource.apiVersion, resource.kind, ns, undefined, undefined, undefined, undefined, labelSelector)
        let resourceVersion = list.metadata?.resourceVersion
        let expired = false
        while (!stop.signal.aborted && !expired) {
          // Watch.watch never rejects: a refused or broken watch ends in `done(err)`.
          let failed = false
          let ended = false
          const handle: { current?: AbortController } = {}
          const controller = await watcher.watch(path, { allowWatchBookmarks: true, resourceVersion, labelSelector }, (phase: string, apiObj: KubernetesObject) => {
            if (phase === 'ERROR') {
              // 410 Gone: the resourceVersion is too old; relist like the reflector does (sending nothing).
              logger.info({ ...where, status: apiObj }, 'apiserversource: watch expired, relisting')
              expired = true
              handle.current?.abort()
              return
            }
            if (apiObj?.metadata?.resourceVersion) resourceVersion = apiObj.metadata.resourceVersion
            if (phase === 'BOOKMARK') return
            const action: ChangeAction | undefined = phase === 'ADDED' ? 'add' : phase === 'MODIFIED' ? 'update' : phase === 'DELETED' ? 'delete' : undefined
            // One at a time, in watch order, as the adapter's reflector hands them over.
            if (action) delivering = delivering.then(() => deliver(source, action, apiObj))
          }, (err: unknown) => {
            ended = true
            const e = err as { name?: string, statusCode?: number } | null
            if (!e || stop.signal.aborted || e.name === 'AbortError') return
            if (e.statusCode === 410) { expired = true; return }
            // The client's inactivity timeout: just watch again from where we were.
            if (e.name === 'TimeoutError') { logger.debug({ ...where }, 'apiserversource: watch idle, reopening'); return }
            failed = true
            logger.warn({ ...where, err }, 'apiserversource: watch failed')
          })
          handle.current = controller
          if (expired) controller.abort()
          if (!ended) {
            open.add(controller)
            if (stop.signal.aborted) controller.abort()
            firstOpen()
            delay = baseDelay
            await new Promise<void>((r) => {
              if (controller.signal.aborted) r()
              else controller.signal.addEventListener('abort', () => r(), { once: true })
            })
            open.delete(controller)
          }
          if (failed && !stop.signal.aborted) { await sleep(delay, stop.signal); delay = Math.min(delay * 2, 30_000) }
        }
      } catch (err) {
        logger.warn({ ...where, err }, 'apiserversource: list failed, retrying')
        await sleep(delay, stop.signal)
        delay = Math.min(delay * 2, 30_000)
      }
    }
  }

  const started: Promise<void>[] = []
  const running: Promise<void>[] = []
  const namespacesOf = async (source: ApiServerSourceObject): Promise<string[]> => {
    if (!source.namespaceSelector) return [source.namespace]
    const selector = labelSelectorString(source.namespaceSelector)
    for (let delay = baseDelay; !stop.signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        const list = await clientsOf(source).discovery.list('v1', 'Namespace', undefined, undefined, undefined, undefined, undefined, selector || undefined)
        return list.items.map((n) => n.metadata?.name ?? '').filter(Boolean)
      } catch (err) {
        logger.warn({ source: `${source.namespace}/${source.name}`, err }, 'apiserversource: cannot list namespaces, retrying')
        await sleep(delay, stop.signal)
      }
    }
    return []
  }
  for (const source of options.sources) {
    let markReady!: () => void
    started.push(new Promise<void>((resolve) => { markReady = resolve }))
    running.push((async () => {
      const namespaces = await namespacesOf(source)
      const opened = new Set<string>()
      const want = source.resources.length * Math.max(namespaces.length, 1)
      if (namespaces.length === 0) markReady()
      await Promise.all(namespaces.flatMap((ns) => source.resources.map((r, i) => reflect(source, r, ns, () => {
        opened.add(`${i}/${ns}`)
        if (opened.size >= want) markReady()
      }))))
      markReady()
    })())
  }
  logger.info({ sources: options.sources.map((s) => `${s.namespace}/${s.name}`), server: options.sources[0] ? clientsOf(options.sources[0]).server : undefined }, 'apiserversource: started')
  return {
    ready: Promise.all(started).then(() => undefined),
    async close() {
      stop.abort()
      for (const c of open) c.abort()
      await Promise.allSettled(running)
    },
  }
}
