// kubectl sends built-in kinds as Kubernetes protobuf: `auth can-i` posts its
// SelfSubjectAccessReview that way, and the typed clients behind `create
// configmap|secret|namespace|deployment|job` and of `create role|rolebinding`
// (and their cluster-wide kinds) and `create token` post theirs so. This decodes the
// envelope and the object into the JSON form the API server would hold, and
// encodes replies the same way for a client whose Accept list puts protobuf
// first, as kube-apiserver's content negotiation serves it.
//
// Wire format (k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go):
// the 4-byte magic "k8s\0", then a runtime.Unknown whose typeMeta names the
// kind and whose raw is the object's own message. The messages are Kubernetes'
// published definitions (proto/README.md: the generated.proto files of
// k8s.io/api and k8s.io/apimachinery v0.32.13, i.e. Kubernetes 1.32), loaded
// with protobufjs as they are, field names and numbers unchanged.
//
// The Go types marshal every non-pointer field (gogo-protobuf), so a decoded
// object carries empty strings and zero times for what JSON would omit; those
// are dropped. A few messages have a JSON form of their own, as their Go types'
// MarshalJSON: meta/v1 Time and MicroTime (RFC 3339), Duration (a Go duration
// string), FieldsV1 and runtime.RawExtension (embedded JSON), intstr.IntOrString
// (a number or a string) and resource.Quantity (its string).
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import type http from 'node:http'

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1'
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'proto')
/** Group/version → the proto package of its kinds. */
const PACKAGES: Record<string, string> = {
  v1: 'k8s.io.api.core.v1',
  'apps/v1': 'k8s.io.api.apps.v1',
  'batch/v1': 'k8s.io.api.batch.v1',
  'authorization.k8s.io/v1': 'k8s.io.api.authorization.v1',
  // kubectl create token (a TokenRequest)
  'authentication.k8s.io/v1': 'k8s.io.api.authentication.v1',
  // kubectl create role|clusterrole|rolebinding|clusterrolebinding
  'rbac.authorization.k8s.io/v1': 'k8s.io.api.rbac.v1',
  // DeleteOptions, which typed clients send with a delete
  'meta.k8s.io/v1': META,
}

let loaded: protobuf.Root | undefined
function root(): protobuf.Root {
  if (loaded) return loaded
  const r = new protobuf.Root()
  // Imports are written as Go import paths ("k8s.io/apimachinery/pkg/.../generated.proto"), kept under proto/.
  r.resolvePath = (_origin, target) => join(PROTO_DIR, target.startsWith(PROTO_DIR) ? target.slice(PROTO_DIR.length + 1) : target)
  r.loadSync(['core/v1', 'apps/v1', 'batch/v1', 'authorization/v1', 'authentication/v1', 'rbac/v1'].map((p) => `k8s.io/api/${p}/generated.proto`), { keepCase: true })
  r.resolveAll()
  loaded = r
  return r
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

export const isProtobuf = (req: http.IncomingMessage): boolean => /^application\/vnd\.kubernetes\.protobuf/.test(String(req.headers['content-type'] ?? ''))

export async function readRaw(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const rfc3339 = (seconds: number, nanos: number, micro: boolean): string => {
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, '')
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`
}

/** time.Duration's String() (Go src/time/time.go) for a meta/v1 Duration. */
function goDuration(ns: number): string {
  if (ns === 0) return '0s'
  const sign = ns < 0 ? '-' : ''
  let rest = Math.abs(ns)
  if (rest < 1e9) return `${sign}${rest < 1e3 ? `${rest}ns` : rest < 1e6 ? `${rest / 1e3}µs` : `${rest / 1e6}ms`}`
  const h = Math.floor(rest / 3.6e12); rest -= h * 3.6e12
  const m = Math.floor(rest / 6e10); rest -= m * 6e10
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${rest / 1e9}s`
}

type Plain = Record<string, unknown>

/** The JSON form of one decoded value of `field`'s type. */
function convertValue(field: protobuf.Field, value: unknown): unknown {
  const t = field.resolvedType
  if (t instanceof protobuf.Type) return convertMessage(t, value as Plain)
  return value
}

function convertMessage(type: protobuf.Type, msg: Plain): unknown {
  const full = type.fullName.replace(/^\./, '')
  switch (full) {
    case `${META}.Time`: case `${META}.MicroTime`: {
      const seconds = Number(msg.seconds ?? 0), nanos = Number(msg.nanos ?? 0)
      // The zero time.Time (January 1, year 1) is null in JSON; gogo marshals it as seconds -62135596800.
      return seconds === -62135596800 || (seconds === 0 && nanos === 0 && msg.seconds === undefined) ? undefined : rfc3339(seconds, nanos, full.endsWith('MicroTime'))
    }
    case `${META}.Duration`: return goDuration(Number(msg.duration ?? 0))
    case `${META}.FieldsV1`: return msg.Raw ? JSON.parse(Buffer.from(String(msg.Raw), 'base64').toString()) as unknown : {}
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension': return msg.raw ? JSON.parse(Buffer.from(String(msg.raw), 'base64').toString()) as unknown : undefined
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': return Number(msg.type ?? 0) === 1 ? msg.strVal ?? '' : msg.intVal ?? 0
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity': return msg.string ?? '0'
  }
  const out: Plain = {}
  for (const field of type.fieldsArray) {
    const v = msg[field.name]
    if (v === undefined || v === null) continue
    if (field.map) {
      const m: Plain = {}
      for (const [k, x] of Object.entries(v as Plain)) m[k] = convertValue(field, x)
      out[field.name] = m
    } else if (field.repeated) {
      out[field.name] = (v as unknown[]).map((x) => convertValue(field, x))
    } else {
      const x = convertValue(field, v)
      // A non-pointer string marshals even when empty, where JSON omits it.
      if (x === undefined || x === '') continue
      out[field.name] = x
    }
  }
  return out
}

/**
 * The JSON form of a protobuf-encoded object, or undefined when it is not a
 * Kubernetes protobuf envelope or names a kind this server has no message for
 * (a custom resource: those are JSON only, as for the real API server).
 */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) return undefined
  const r = root()
  const unknownType = r.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown')
  const unknown = unknownType.toObject(unknownType.decode(body.subarray(4)), { defaults: false }) as { typeMeta?: { apiVersion?: string, kind?: string }, raw?: Uint8Array }
  const apiVersion = unknown.typeMeta?.apiVersion ?? ''
  const kind = unknown.typeMeta?.kind ?? ''
  const pkg = PACKAGES[apiVersion]
  const type = pkg && /^[A-Z]\w*$/.test(kind) ? r.lookup(`${pkg}.${kind}`) : null
  if (!(type instanceof protobuf.Type) || !unknown.raw) return undefined
  const obj = type.toObject(type.decode(unknown.raw), { defaults: false, longs: Number, bytes: String }) as Plain
  return { apiVersion, kind, ...(convertMessage(type, obj) as Plain) }
}

// ---------------------------------------------------------------------------
// Encoding: the JSON form back into the messages (the reverse of convertMessage).

/** time.ParseDuration for the durations a meta/v1 Duration holds ("1h2m3.5s", "300ms"). */
function parseGoDuration(text: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 }
  let total = 0
  for (const m of text.matchAll(/(-?[\d.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (units[m[2] ?? 's'] ?? 0)
  return Math.round(total)
}

function protoValue(field: protobuf.Field, value: unknown): unknown {
  const t = field.resolvedType
  return t instanceof protobuf.Type ? protoMessage(t, value) : value
}

function protoMessage(type: protobuf.Type, value: unknown): unknown {
  const full = type.fullName.replace(/^\./, '')
  switch (full) {
    case `${META}.Time`: case `${META}.MicroTime`: {
      const ms = Date.parse(String(value))
      const nanos = full.endsWith('MicroTime') ? Number((/\.(\d{1,9})/.exec(String(value))?.[1] ?? '0').padEnd(9, '0')) : 0
      return Number.isNaN(ms) ? {} : { seconds: Math.floor(ms / 1000), nanos }
    }
    case `${META}.Duration`: return { duration: parseGoDuration(String(value)) }
    case `${META}.FieldsV1`: return { Raw: Buffer.from(JSON.stringify(value)).toString('base64') }
    case 'k8s.io.apimachinery.pkg.runtime.RawExtension': return { raw: Buffer.from(JSON.stringify(value)).toString('base64') }
    case 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': return typeof value === 'number' ? { type: 0, intVal: value } : { type: 1, strVal: String(value) }
    case 'k8s.io.apimachinery.pkg.api.resource.Quantity': return { string: String(value) }
  }
  if (!value || typeof value !== 'object') return {}
  const out: Plain = {}
  for (const field of type.fieldsArray) {
    const v = (value as Plain)[field.name]
    if (v === undefined || v === null) continue
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(v as Plain).map(([k, x]) => [k, protoValue(field, x)]))
    else if (field.repeated) out[field.name] = Array.isArray(v) ? v.map((x) => protoValue(field, x)) : []
    else out[field.name] = protoValue(field, v)
  }
  return out
}

/** Whether the request's Accept list puts Kubernetes protobuf first (typed clients send "protobuf,json"). */
export const prefersProtobuf = (accept: string | undefined): boolean => /^\s*application\/vnd\.kubernetes\.protobuf\s*(,|;|$)/.test(accept ?? '')

/**
 * The protobuf encoding of an object in its JSON form ("k8s\0" + runtime.Unknown), or
 * undefined when this server has no message for its kind (then it is sent as JSON,
 * which the typed clients accept too). A Status is meta/v1's.
 */
export function encodeKubernetesProtobuf(obj: Record<string, unknown>): Buffer | undefined {
  const apiVersion = String(obj.apiVersion ?? (obj.kind === 'Status' ? 'v1' : ''))
  const kind = String(obj.kind ?? '')
  const pkg = kind === 'Status' ? META : PACKAGES[apiVersion]
  const r = root()
  const type = pkg && /^[A-Z]\w*$/.test(kind) ? r.lookup(`${pkg}.${kind}`) : null
  if (!(type instanceof protobuf.Type)) return undefined
  const raw = type.encode(type.fromObject(protoMessage(type, obj) as Plain)).finish()
  const unknownType = r.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown')
  const envelope = unknownType.encode(unknownType.fromObject({ typeMeta: { apiVersion, kind }, raw, contentEncoding: '', contentType: '' })).finish()
  return Buffer.concat([MAGIC, envelope])
}
