import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { stringify } from 'yaml'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { listAll } from '../../shared/kubernetes/deleter.ts'
import { safeName, type ArchiveWriter } from './archive.ts'
import type { BackUpConfigurationConfig, Part } from './config.ts'

/** Server-set fields `kubectl get -o yaml` shows and a re-apply must not carry. */
const SERVER_FIELDS = ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const

type Obj = { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; status?: unknown; [key: string]: unknown }

/** The object as YAML to re-apply: apiVersion and kind first, server fields and status dropped. */
export function cleanObject(apiVersion: string, kind: string, o: Obj): Record<string, unknown> {
  // A typed client's Dates become RFC 3339 strings, as on the wire.
  const plain = JSON.parse(JSON.stringify(o)) as Obj
  const metadata = Object.fromEntries(Object.entries(plain.metadata ?? {}).filter(([key]) => !(SERVER_FIELDS as readonly string[]).includes(key)))
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = plain
  return { apiVersion, kind, metadata, ...rest }
}

/** The configured namespaces' PrometheusRules and ConfigMaps into the archive, one YAML file each, ready to re-apply. */
export async function backUpKubernetes(config: BackUpConfigurationConfig, kubeConfig: KubeConfig | undefined, parts: Part[], writer: ArchiveWriter, counts: Record<Part, number>): Promise<void> {
  if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'back-up-configuration needs the Kubernetes API for prometheusrules and configmaps, and none is configured')
  const custom = kubeConfig.makeApiClient(CustomObjectsApi)
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const { namespaces, pageSize, prometheusRuleSelector, configMapSelector } = config.kubernetes
  for (const namespace of namespaces) {
    if (parts.includes('prometheusrules')) {
      const rules = await listAll<Obj>(pageSize, (page) => custom.listNamespacedCustomObject({ group: 'monitoring.coreos.com', version: 'v1', plural: 'prometheusrules', namespace, ...page, ...(prometheusRuleSelector ? { labelSelector: prometheusRuleSelector } : {}) }))
        .catch((err: unknown) => { throw kubernetesError(err, `list PrometheusRules in ${namespace}`) })
      for (const o of rules) {
        writer.add(`kubernetes/${namespace}/prometheusrules/${safeName(String(o.metadata?.name))}.yaml`, stringify(cleanObject('monitoring.coreos.com/v1', 'PrometheusRule', o)))
        counts.prometheusrules++
      }
    }
    if (parts.includes('configmaps')) {
      const maps = await listAll(pageSize, (page) => core.listNamespacedConfigMap({ namespace, ...page, ...(configMapSelector ? { labelSelector: configMapSelector } : {}) }))
        .catch((err: unknown) => { throw kubernetesError(err, `list ConfigMaps in ${namespace}`) })
      for (const o of maps) {
        writer.add(`kubernetes/${namespace}/configmaps/${safeName(String(o.metadata?.name))}.yaml`, stringify(cleanObject('v1', 'ConfigMap', o as Obj)))
        counts.configmaps++
      }
    }
  }
}
