// The slice of /openapi/v3 kubectl reads: per group-version documents whose PATCH
// operations carry x-kubernetes-group-version-kind and the fieldValidation query
// parameter, so kubectl validates on the server (fieldValidation=Strict) instead
// of downloading full schemas. No component schemas: kubectl then builds
// strategic merge patches from its compiled-in types, as it does for any server.
import { createHash } from 'node:crypto'
import type { ResourceInfo } from './resources.ts'

const gvOf = (r: ResourceInfo): string => (r.group ? `${r.group}/${r.version}` : r.version)
const docPath = (gv: string): string => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`)

function operation(r: ResourceInfo, verb: string): Record<string, unknown> {
  const q = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } })
  return {
    operationId: `${verb}${r.kind}`,
    parameters: [q('dryRun'), q('fieldManager'), q('fieldValidation'), ...(verb === 'patch' ? [{ name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }] : [])],
    responses: { 200: { description: 'OK' } },
    'x-kubernetes-action': verb,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  }
}

function document(gv: string, resources: ResourceInfo[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  for (const r of resources) {
    const base = `/${docPath(gv)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}`
    paths[base] = { post: operation(r, 'post') }
    paths[`${base}/{name}`] = { put: operation(r, 'put'), patch: operation(r, 'patch') }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: {} }
}

export function openApiV3(resources: ResourceInfo[]): { root: Record<string, unknown>, docs: Map<string, string> } {
  const byGv = new Map<string, ResourceInfo[]>()
  for (const r of resources) byGv.set(gvOf(r), [...(byGv.get(gvOf(r)) ?? []), r])
  const docs = new Map<string, string>()
  const paths: Record<string, unknown> = {}
  for (const [gv, rs] of byGv) {
    const text = JSON.stringify(document(gv, rs))
    const hash = createHash('sha512').update(text).digest('hex').toUpperCase().slice(0, 128)
    docs.set(`/openapi/v3/${docPath(gv)}`, text)
    paths[docPath(gv)] = { serverRelativeURL: `/openapi/v3/${docPath(gv)}?hash=${hash}` }
  }
  return { root: { paths }, docs }
}
