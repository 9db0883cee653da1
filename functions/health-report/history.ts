import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node'
import { kubernetesError, kubernetesStatusCode } from '../../shared/kubernetes/client.ts'
import { mergeHistory, parseHistory, type DayRecord } from './checks/digest.ts'

/**
 * The daily reports' history, for the weekly digest: a ConfigMap holding
 * one small record per day (`history.json`), bounded to `keepDays` days.
 * Safe with replicas, restarts and redelivery: a write carries the
 * resourceVersion it read (optimistic concurrency: the API server refuses
 * it with 409 Conflict when another writer came first, and it is read and
 * merged again), and a day's record replaces that day's, so a report made
 * twice leaves one record.
 */

export const HISTORY_KEY = 'history.json'
const ATTEMPTS = 5

export interface HistoryLocation { namespace: string; name: string }

export async function readHistory(core: CoreV1Api, at: HistoryLocation): Promise<{ records: DayRecord[]; configMap?: V1ConfigMap }> {
  try {
    const configMap = await core.readNamespacedConfigMap({ namespace: at.namespace, name: at.name })
    return { records: parseHistory(configMap.data?.[HISTORY_KEY]), configMap }
  } catch (err) {
    if (kubernetesStatusCode(err) === 404) return { records: [] }
    throw kubernetesError(err, `read ConfigMap ${at.namespace}/${at.name}`)
  }
}

/** Adds (or replaces) the day's record; returns the history as written. */
export async function recordDay(core: CoreV1Api, at: HistoryLocation, record: DayRecord, keepDays: number): Promise<DayRecord[]> {
  for (let attempt = 1; ; attempt++) {
    const { records, configMap } = await readHistory(core, at)
    const merged = mergeHistory(records, record, keepDays)
    const data = { ...(configMap?.data ?? {}), [HISTORY_KEY]: JSON.stringify(merged) }
    try {
      if (configMap) {
        await core.replaceNamespacedConfigMap({ namespace: at.namespace, name: at.name, body: { ...configMap, data } })
      } else {
        await core.createNamespacedConfigMap({
          namespace: at.namespace,
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: at.name, namespace: at.namespace, labels: { 'app.kubernetes.io/name': 'health-report', 'app.kubernetes.io/component': 'health-history' } }, data },
        })
      }
      return merged
    } catch (err) {
      // 409: another replica wrote (or created) it first; read its version and merge again.
      if (kubernetesStatusCode(err) === 409 && attempt < ATTEMPTS) continue
      throw kubernetesError(err, `${configMap ? 'update' : 'create'} ConfigMap ${at.namespace}/${at.name}`)
    }
  }
}
