import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { parseAttributeMap, parseFilters, type TriggerFilter } from './filters.ts'

/**
 * Loads the Knative Eventing objects the local mesh acts on (Broker, Trigger,
 * PingSource) from a directory of YAML files. Other kinds (ApiServerSource,
 * Kustomization, ...) are skipped: they are valid manifests, just not ours.
 */

export interface ObjectRef {
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly apiVersion?: string
}

/** A Knative Destination: a ref, a uri, or both (uri then is relative to the ref). */
export interface Destination {
  readonly ref?: ObjectRef
  readonly uri?: string
  /** The OIDC audience to mint the sender's token for (a Knative Service announces none of its own). */
  readonly audience?: string
}

export type BackoffPolicy = 'linear' | 'exponential'

export interface DeliverySpec {
  readonly retry?: number
  readonly backoffPolicy?: BackoffPolicy
  readonly backoffDelayMs?: number
  readonly deadLetterSink?: Destination
}

export interface ManifestOrigin {
  /** File path relative to the loaded directory, for messages. */
  readonly file: string
  readonly name: string
  readonly namespace: string
}

export interface BrokerObject extends ManifestOrigin {
  readonly kind: 'Broker'
  readonly delivery?: DeliverySpec
}

export interface TriggerObject extends ManifestOrigin {
  readonly kind: 'Trigger'
  readonly broker: string
  readonly filter: TriggerFilter
  readonly subscriber: Destination
  readonly delivery?: DeliverySpec
}

export interface PingSourceObject extends ManifestOrigin {
  readonly kind: 'PingSource'
  readonly schedule: string
  readonly timezone: string
  readonly contentType?: string
  readonly data?: string
  readonly dataBase64?: string
  readonly sink: Destination
}

export interface MeshManifests {
  readonly brokers: BrokerObject[]
  readonly triggers: TriggerObject[]
  readonly pingSources: PingSourceObject[]
}

const DEFAULT_NAMESPACE = 'default'

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function invalid(where: string, message: string): CaretakerError {
  return new CaretakerError(Errors.InvalidConfig, `${where}: ${message}`)
}

function optionalString(obj: Record<string, unknown>, field: string, where: string): string | undefined {
  const value = obj[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw invalid(`${where}.${field}`, `expected a string, got ${JSON.stringify(value)}`)
  return value
}

function requiredString(obj: Record<string, unknown>, field: string, where: string): string {
  const value = optionalString(obj, field, where)
  if (value === undefined || value === '') throw invalid(`${where}.${field}`, 'is required')
  return value
}

function optionalRecord(obj: Record<string, unknown>, field: string, where: string): Record<string, unknown> | undefined {
  const value = obj[field]
  if (value === undefined || value === null) return undefined
  if (!isRecord(value)) throw invalid(`${where}.${field}`, 'expected an object')
  return value
}

const ISO_DURATION = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/

/** ISO-8601 duration (days and time part, e.g. PT0.2S, PT1M30S, P1D) in milliseconds; undefined if malformed. */
export function parseIsoDurationMs(text: string): number | undefined {
  const match = ISO_DURATION.exec(text)
  if (!match || text === 'P' || text.endsWith('T')) return undefined
  const [, days, hours, minutes, seconds] = match
  const ms = (Number(days ?? 0) * 86_400 + Number(hours ?? 0) * 3_600 + Number(minutes ?? 0) * 60 + Number(seconds ?? 0)) * 1000
  return Math.round(ms)
}

export function parseDestination(raw: unknown, where: string): Destination {
  if (!isRecord(raw)) throw invalid(where, 'expected a destination with ref or uri')
  const uri = optionalString(raw, 'uri', where)
  const refRaw = optionalRecord(raw, 'ref', where)
  let ref: ObjectRef | undefined
  if (refRaw) {
    const namespace = optionalString(refRaw, 'namespace', `${where}.ref`)
    const apiVersion = optionalString(refRaw, 'apiVersion', `${where}.ref`)
    ref = {
      kind: requiredString(refRaw, 'kind', `${where}.ref`),
      name: requiredString(refRaw, 'name', `${where}.ref`),
      ...(namespace === undefined ? {} : { namespace }),
      ...(apiVersion === undefined ? {} : { apiVersion }),
    }
  }
  if (!ref && (uri === undefined || uri === '')) throw invalid(where, 'needs ref or uri')
  if (!ref && uri !== undefined && !URL.canParse(uri)) throw invalid(`${where}.uri`, `expected an absolute URL, got ${JSON.stringify(uri)}`)
  const audience = optionalString(raw, 'audience', where)
  return { ...(ref ? { ref } : {}), ...(uri === undefined || uri === '' ? {} : { uri }), ...(audience ? { audience } : {}) }
}

export function parseDelivery(raw: Record<string, unknown> | undefined, where: string): DeliverySpec | undefined {
  if (!raw) return undefined
  const out: { retry?: number; backoffPolicy?: BackoffPolicy; backoffDelayMs?: number; deadLetterSink?: Destination } = {}
  if (raw.retry !== undefined && raw.retry !== null) {
    if (typeof raw.retry !== 'number' || !Number.isInteger(raw.retry) || raw.retry < 0) {
      throw invalid(`${where}.retry`, `expected a non-negative integer, got ${JSON.stringify(raw.retry)}`)
    }
    out.retry = raw.retry
  }
  const policy = optionalString(raw, 'backoffPolicy', where)
  if (policy !== undefined) {
    if (policy !== 'linear' && policy !== 'exponential') throw invalid(`${where}.backoffPolicy`, `expected linear or exponential, got ${JSON.stringify(policy)}`)
    out.backoffPolicy = policy
  }
  const delay = optionalString(raw, 'backoffDelay', where)
  if (delay !== undefined) {
    const ms = parseIsoDurationMs(delay)
    if (ms === undefined) throw invalid(`${where}.backoffDelay`, `expected an ISO-8601 duration like PT0.2S, got ${JSON.stringify(delay)}`)
    out.backoffDelayMs = ms
  }
  if (raw.deadLetterSink !== undefined && raw.deadLetterSink !== null) {
    out.deadLetterSink = parseDestination(raw.deadLetterSink, `${where}.deadLetterSink`)
  }
  return out
}

function parseTrigger(origin: ManifestOrigin, spec: Record<string, unknown>, where: string): TriggerObject {
  const filterRaw = optionalRecord(spec, 'filter', where)
  const attributesRaw = filterRaw ? optionalRecord(filterRaw, 'attributes', `${where}.filter`) : undefined
  const filter: { attributes?: Record<string, string>; filters?: ReturnType<typeof parseFilters> } = {}
  if (attributesRaw) filter.attributes = parseAttributeMap(attributesRaw, `${where}.filter.attributes`, true)
  if (spec.filters !== undefined && spec.filters !== null) filter.filters = parseFilters(spec.filters, `${where}.filters`)
  if (spec.subscriber === undefined || spec.subscriber === null) throw invalid(`${where}.subscriber`, 'is required')
  const delivery = parseDelivery(optionalRecord(spec, 'delivery', where), `${where}.delivery`)
  return {
    kind: 'Trigger',
    ...origin,
    broker: requiredString(spec, 'broker', where),
    filter,
    subscriber: parseDestination(spec.subscriber, `${where}.subscriber`),
    ...(delivery ? { delivery } : {}),
  }
}

function parseBroker(origin: ManifestOrigin, spec: Record<string, unknown> | undefined, where: string): BrokerObject {
  const delivery = spec ? parseDelivery(optionalRecord(spec, 'delivery', where), `${where}.delivery`) : undefined
  return { kind: 'Broker', ...origin, ...(delivery ? { delivery } : {}) }
}

function parsePingSource(origin: ManifestOrigin, spec: Record<string, unknown>, where: string): PingSourceObject {
  const schedule = requiredString(spec, 'schedule', where)
  if (schedule.trim().split(/\s+/).length !== 5) throw invalid(`${where}.schedule`, `expected a 5-field cron expression, got ${JSON.stringify(schedule)}`)
  const timezone = optionalString(spec, 'timezone', where) || 'UTC'
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone })
  } catch {
    throw invalid(`${where}.timezone`, `unknown IANA time zone ${JSON.stringify(timezone)}`)
  }
  const data = optionalString(spec, 'data', where)
  const dataBase64 = optionalString(spec, 'dataBase64', where)
  if (data !== undefined && dataBase64 !== undefined) throw invalid(where, 'data and dataBase64 are mutually exclusive')
  if (dataBase64 !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(dataBase64)) throw invalid(`${where}.dataBase64`, 'is not valid base64')
  const contentType = optionalString(spec, 'contentType', where)
  if (spec.sink === undefined || spec.sink === null) throw invalid(`${where}.sink`, 'is required')
  return {
    kind: 'PingSource',
    ...origin,
    schedule,
    timezone,
    ...(contentType === undefined ? {} : { contentType }),
    ...(data === undefined ? {} : { data }),
    ...(dataBase64 === undefined ? {} : { dataBase64 }),
    sink: parseDestination(spec.sink, `${where}.sink`),
  }
}

const OUR_KINDS: Record<string, string> = {
  Broker: 'eventing.knative.dev/',
  Trigger: 'eventing.knative.dev/',
  PingSource: 'sources.knative.dev/',
}

/** Parses one YAML text (possibly several documents) into mesh objects; `file` names it in errors. */
export function parseManifestText(text: string, file: string, into: MeshManifests): void {
  const documents = parseAllDocuments(text)
  documents.forEach((document, index) => {
    if (document.errors.length > 0) {
      throw invalid(`${file} document ${index + 1}`, `is not valid YAML: ${document.errors[0]!.message.split('\n')[0]}`)
    }
    const object: unknown = document.toJS()
    if (object === null || object === undefined) return
    if (!isRecord(object)) throw invalid(`${file} document ${index + 1}`, 'expected a Kubernetes object')
    const kind = object.kind
    const apiVersion = object.apiVersion
    if (typeof kind !== 'string' || !(kind in OUR_KINDS)) return
    if (typeof apiVersion !== 'string' || !apiVersion.startsWith(OUR_KINDS[kind]!)) return
    const metadata = isRecord(object.metadata) ? object.metadata : {}
    const name = metadata.name
    if (typeof name !== 'string' || name === '') throw invalid(`${file} ${kind} (document ${index + 1}).metadata.name`, 'is required')
    const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : DEFAULT_NAMESPACE
    const where = `${file} ${kind} ${namespace}/${name}: spec`
    const origin: ManifestOrigin = { file, name, namespace }
    const spec = object.spec
    if (spec !== undefined && spec !== null && !isRecord(spec)) throw invalid(where, 'expected an object')
    if (kind === 'Broker') {
      into.brokers.push(parseBroker(origin, spec ?? undefined, where))
      return
    }
    if (!spec) throw invalid(where, 'is required')
    if (kind === 'Trigger') into.triggers.push(parseTrigger(origin, spec, where))
    else into.pingSources.push(parsePingSource(origin, spec, where))
  })
}

/** Reads every *.yaml / *.yml under `dir` (recursively, in a stable order). */
/** The YAML files of a directory tree, in name order, with their path relative to it. */
export async function readManifestFiles(dir: string): Promise<Array<{ file: string; text: string }>> {
  let entries: string[]
  try {
    entries = await readdir(dir, { recursive: true })
  } catch (err) {
    throw new CaretakerError(Errors.InvalidConfig, `mesh: cannot read the triggers directory ${dir}`, { cause: err })
  }
  const out: Array<{ file: string; text: string }> = []
  for (const entry of entries.filter((e) => /\.ya?ml$/i.test(e)).sort()) {
    const path = join(dir, entry)
    out.push({ file: relative(dir, path), text: await readFile(path, 'utf8') })
  }
  return out
}

export async function loadManifests(dir: string): Promise<MeshManifests> {
  const manifests: MeshManifests = { brokers: [], triggers: [], pingSources: [] }
  for (const { file, text } of await readManifestFiles(dir)) parseManifestText(text, file, manifests)
  return manifests
}
