// kubectl sends some built-in kinds as Kubernetes protobuf (`auth can-i` posts its
// SelfSubjectAccessReview that way). This decodes the envelope (magic "k8s\0" +
// runtime.Unknown) and the few kinds that arrive so, into their JSON form.
import protobuf from 'protobufjs'
import type http from 'node:http'

const str = (id: number) => ({ type: 'string', id })
const root = protobuf.Root.fromJSON({
  nested: {
    Unknown: { fields: { typeMeta: { type: 'TypeMeta', id: 1 }, raw: { type: 'bytes', id: 2 }, contentEncoding: str(3), contentType: str(4) } },
    TypeMeta: { fields: { apiVersion: str(1), kind: str(2) } },
    ObjectMeta: { fields: { name: str(1), generateName: str(2), namespace: str(3) } },
    ResourceAttributes: { fields: { namespace: str(1), verb: str(2), group: str(3), version: str(4), resource: str(5), subresource: str(6), name: str(7) } },
    NonResourceAttributes: { fields: { path: str(1), verb: str(2) } },
    SelfSubjectAccessReviewSpec: { fields: { resourceAttributes: { type: 'ResourceAttributes', id: 1 }, nonResourceAttributes: { type: 'NonResourceAttributes', id: 2 } } },
    SelfSubjectAccessReview: { fields: { metadata: { type: 'ObjectMeta', id: 1 }, spec: { type: 'SelfSubjectAccessReviewSpec', id: 2 } } },
  },
})

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])
const KINDS = new Set(['SelfSubjectAccessReview'])

export const isProtobuf = (req: http.IncomingMessage): boolean => /^application\/vnd\.kubernetes\.protobuf/.test(String(req.headers['content-type'] ?? ''))

export async function readRaw(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** The JSON form of a protobuf-encoded object, or undefined when it is not a kind decoded here. */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) return undefined
  const unknown = root.lookupType('Unknown').toObject(root.lookupType('Unknown').decode(body.subarray(4)), { defaults: false }) as { typeMeta?: { apiVersion?: string, kind?: string }, raw?: Uint8Array }
  const kind = unknown.typeMeta?.kind ?? ''
  if (!KINDS.has(kind) || !unknown.raw) return undefined
  const type = root.lookupType(kind)
  const obj = type.toObject(type.decode(unknown.raw), { defaults: false }) as Record<string, unknown>
  return { apiVersion: unknown.typeMeta?.apiVersion, kind, ...obj }
}
