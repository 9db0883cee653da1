import { LONGHORN_CRDS } from './longhorn.ts'
import type { CrdDefinition } from './types.ts'
import { VOLUME_SNAPSHOT_CRDS } from './volumesnapshot.ts'

export type { CrdDefinition } from './types.ts'
export * from './volumesnapshot.ts'
export * from './longhorn.ts'

/** Every custom resource kind whose schema is the project's own definition. */
export const PROJECT_CRDS: CrdDefinition[] = [...VOLUME_SNAPSHOT_CRDS, ...LONGHORN_CRDS]

export function findProjectCrd(group: string, version: string, kind: string): CrdDefinition | undefined {
  return PROJECT_CRDS.find((c) => c.group === group && c.version === version && c.kind === kind)
}
