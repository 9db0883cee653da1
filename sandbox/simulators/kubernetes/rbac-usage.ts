import { randomUUID } from 'node:crypto'
import { appendFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Which granted permissions the test run used. Under `tap`, with the
 * directory the run's `before` script makes (test/rbac-usage/before.ts),
 * every request the simulator's RBAC allows is written down once per
 * process as the role that allowed it, the verb, the API group and the
 * resource; the run's `after` script (test/rbac-usage/report.ts) lists the
 * rules of manifests/ that no test exercised. Outside a test run nothing is
 * written.
 */

export const RBAC_USAGE_DIR = fileURLToPath(new URL('../../../.tap/rbac-usage/', import.meta.url))

export interface RbacUse {
  /** `ClusterRole/<name>` or `Role/<namespace>/<name>` */
  readonly role: string
  readonly verb: string
  readonly group: string
  /** `resource` or `resource/subresource` */
  readonly resource: string
}

const enabled = process.env.TAP === '1' && existsSync(RBAC_USAGE_DIR)
const file = join(RBAC_USAGE_DIR, `${process.pid}-${randomUUID().slice(0, 8)}.jsonl`)
const seen = new Set<string>()

export function recordUse(role: string, a: { verb: string, group: string, resource: string, subresource: string }): void {
  // Non-resource URLs and the bootstrap roles are the cluster's, not the project's.
  if (!enabled || a.resource === '' || role.startsWith('ClusterRole/system:') || role === 'ClusterRole/cluster-admin') return
  const use: RbacUse = { role, verb: a.verb, group: a.group, resource: a.subresource ? `${a.resource}/${a.subresource}` : a.resource }
  const key = `${use.role}|${use.verb}|${use.group}|${use.resource}`
  if (seen.has(key)) return
  seen.add(key)
  try {
    appendFileSync(file, `${JSON.stringify(use)}\n`)
  } catch {
    // The run's directory was removed under us: the report will say it has nothing.
  }
}
