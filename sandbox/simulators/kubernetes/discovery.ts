import { RESOURCES, categoriesOf, groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'
import { ApiError } from './status.ts'
import { toTable, wantsTable } from './table.ts'
import { CRD_RESOURCE, crdObject, isCustomResource } from './crds.ts'
import { meta } from './store.ts'
import type { Obj } from './store.ts'

/** What this cluster serves: every group but the omitted ones (`omitGroups`). */
export function servedGroups(omitGroups: string[] = []) {
  const served = (r: ResourceInfo) => !omitGroups.includes(r.group)
  const metricsServed = () => !omitGroups.includes('metrics.k8s.io')
  const discovery = () => {
    const groups = new Map<string, ResourceInfo[]>()
    for (const r of RESOURCES.filter(served)) groups.set(groupVersion(r), [...(groups.get(groupVersion(r)) ?? []), r])
    return groups
  }
  return { served, metricsServed, discovery }
}
export type Served = ReturnType<typeof servedGroups>

export const resourceList = (gv: string, rs: ResourceInfo[]) => ({
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
  resources: rs.flatMap((r) => [
    { name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(categoriesOf(r).length ? { categories: categoriesOf(r) } : {}) },
    ...r.subresources.map((s) => s === 'token'
      // As kube-apiserver lists it: serviceaccounts/token is a TokenRequest of authentication.k8s.io/v1, create only.
      ? { name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] }
      : { name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: s === 'scale' ? 'Scale' : r.kind, verbs: ['get', 'patch', 'update'] }),
  ]),
})

/** GET /apis: the served groups, with the built-in ones that have no stored resources. */
export function apiGroupList({ served, metricsServed }: Served) {
  const gs = [...new Set(RESOURCES.filter((r) => r.group && served(r)).map((r) => r.group))]
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...gs, 'apiextensions.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', ...(metricsServed() ? ['metrics.k8s.io'] : [])].map((g) => { const v = RESOURCES.find((r) => r.group === g)?.version ?? (g === 'metrics.k8s.io' ? 'v1beta1' : 'v1'); return { name: g, versions: [{ groupVersion: `${g}/${v}`, version: v }], preferredVersion: { groupVersion: `${g}/${v}`, version: v } } }) }
}

export const AUTHENTICATION_RESOURCES = { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'authentication.k8s.io/v1', resources: [{ name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] }] }
export const APIEXTENSIONS_RESOURCES = { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apiextensions.k8s.io/v1', resources: [{ name: 'customresourcedefinitions', singularName: 'customresourcedefinition', namespaced: false, kind: 'CustomResourceDefinition', verbs: ['get', 'list'], shortNames: CRD_RESOURCE.shortNames, categories: ['api-extensions'] }] }

/** GET of the CRDs of the served custom resources, read-only (crds.ts): one by name, or the list (as a Table when asked). */
export function readCrds(served: Served['served'], crdName: string, opts: { startedAt: string, resourceVersion: number, accept: string | undefined, includeObject: string | null }): Obj {
  const crds = RESOURCES.filter((x) => served(x) && isCustomResource(x)).map((x) => crdObject(x, opts.startedAt)).sort((a, b) => String(meta(a).name).localeCompare(String(meta(b).name)))
  const wanted = crdName ? crds.find((c) => meta(c).name === crdName) : undefined
  if (crdName && !wanted) throw new ApiError(404, 'NotFound', `customresourcedefinitions.apiextensions.k8s.io "${crdName}" not found`, { name: crdName, group: 'apiextensions.k8s.io', kind: 'customresourcedefinitions' })
  const result = wanted ?? { kind: 'CustomResourceDefinitionList', apiVersion: 'apiextensions.k8s.io/v1', metadata: { resourceVersion: String(opts.resourceVersion) }, items: crds }
  return wantsTable(opts.accept) ? toTable(CRD_RESOURCE, result, opts.includeObject) : result
}
