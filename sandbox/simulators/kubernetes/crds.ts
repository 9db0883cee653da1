// The CustomResourceDefinitions behind the custom resources the simulator
// serves, readable as apiextensions.k8s.io/v1 objects (`kubectl get crds`,
// `kubectl get crd certificates.cert-manager.io -o yaml`): names, scope,
// subresources, categories and additionalPrinterColumns as served; the schema
// where it is the project's own definition (sandbox/crds). The other kinds are
// validated with the kubernetes-models packages, whose schemas are compiled
// code, so their CRDs carry no schema here. The set of kinds is fixed when the
// simulator starts: CRDs are read-only (a write is 405 MethodNotAllowed).
import { findProjectCrd } from '../../crds/index.ts'
import { CRD_PRINTING } from './printer-columns.ts'
import { PROJECT_SCHEMA, categoriesOf, groupVersion } from './resources.ts'
import type { ResourceInfo } from './resources.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }

/** A custom resource kind: its schema comes from a model package or a project definition, never kube-apiserver's own. */
export const isCustomResource = (r: ResourceInfo): boolean => r.module !== undefined

/** The apiextensions.k8s.io/v1 resource, for discovery and the Table printer. */
export const CRD_RESOURCE: ResourceInfo = { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false, subresources: [], shortNames: ['crd', 'crds'] }

export function crdObject(r: ResourceInfo, created: string): Obj {
  const project = r.module === PROJECT_SCHEMA ? findProjectCrd(r.group, r.version, r.kind) : undefined
  const names = { plural: r.plural, singular: r.kind.toLowerCase(), kind: r.kind, listKind: `${r.kind}List`, ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(categoriesOf(r).length ? { categories: categoriesOf(r) } : {}) }
  const columns = CRD_PRINTING[`${groupVersion(r)}/${r.kind}`]?.columns
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${r.plural}.${r.group}`, uid: `00000000-0000-4000-8000-${Buffer.from(`${r.plural}.${r.group}`).toString('hex').slice(0, 12).padEnd(12, '0')}`, resourceVersion: '1', generation: 1, creationTimestamp: created },
    spec: {
      group: r.group, names, scope: r.namespaced ? 'Namespaced' : 'Cluster',
      versions: [{
        name: r.version, served: true, storage: true,
        ...(project ? { schema: { openAPIV3Schema: project.schema } } : {}),
        ...(r.subresources.includes('status') ? { subresources: { status: {} } } : {}),
        ...(columns ? { additionalPrinterColumns: columns } : {}),
      }],
      conversion: { strategy: 'None' },
    },
    status: {
      acceptedNames: names, storedVersions: [r.version],
      conditions: [
        { type: 'NamesAccepted', status: 'True', lastTransitionTime: created, reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', lastTransitionTime: created, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
      ],
    },
  }
}
