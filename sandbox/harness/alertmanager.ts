import { ALERTMANAGER_PACKAGE, ALERTMANAGER_PROGRAM, startAlertmanager as startProgram, type Alertmanager, type AlertmanagerOptions as ProgramOptions } from './alertmanager-process.ts'
import { binarySkipReason, findBinary } from './binaries.ts'

/**
 * A real Alertmanager for tests (sandbox/harness/alertmanager-process.ts, as the
 * sandbox starts it). Missing: tests skip with the install hint; under
 * CI=true they fail.
 */

export type { Alertmanager } from './alertmanager-process.ts'

export function alertmanagerSkipReason(): string | false {
  return binarySkipReason(ALERTMANAGER_PROGRAM, { packageName: ALERTMANAGER_PACKAGE })
}

export type AlertmanagerOptions = Omit<ProgramOptions, 'program' | 'dir'>

export async function startAlertmanager(options: AlertmanagerOptions): Promise<Alertmanager> {
  const program = findBinary(ALERTMANAGER_PROGRAM, { packageName: ALERTMANAGER_PACKAGE })
  if (!program) throw new Error(alertmanagerSkipReason() || 'prometheus-alertmanager is missing')
  return await startProgram({ ...options, program })
}
