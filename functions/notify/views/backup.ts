import { BACKUP_CHECKS } from '../../../shared/events/types/backup.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** verify-backup's outcomes: the set report of one set, and the sweep over all. */

interface Check { readonly check?: string; readonly ok?: boolean; readonly message?: string }

function names(checks: readonly Check[] | undefined): string[] {
  return (checks ?? []).map((c) => c.check).filter((c): c is NonNullable<typeof c> => c !== undefined)
}

/** The artifact's time (from its name, else its mtime) and size. Liquid reads `x.size` of an object without one as its number of keys: the size is given apart. */
function artifactView(artifact: { time?: string; modified?: string; size?: number } | undefined): { artifactTime: string | undefined; artifactSize: number | undefined } {
  return { artifactTime: artifact?.time ?? artifact?.modified, artifactSize: artifact?.size }
}

export const backupViews: Views = {
  [EventTypes.BackupVerified]: (d) => ({ checkNames: names(d.checks), ...artifactView(d.artifact) }),
  [EventTypes.BackupVerificationFailed]: (d) => {
    const checks = d.checks ?? []
    const failed = d.failedCheck ?? 'unknown'
    const failing = checks.find((c) => c.check === failed && c.ok === false) ?? checks.at(-1)
    return {
      failed,
      failingMessage: failing?.message,
      // The check's own advice: a failure code (size-shrunk) takes its check's (size).
      advice: (BACKUP_CHECKS as readonly string[]).includes(failed) ? failed : failing?.check,
      passed: names(checks.filter((c) => c.ok === true)),
      ...artifactView(d.artifact),
    }
  },
  [EventTypes.BackupRestoreStarted]: (d) => ({ checkNames: names(d.checks), ...artifactView(d.artifact) }),
  [EventTypes.BackupSweepCompleted]: (d) => {
    const sets = d.sets ?? []
    const failedSets = sets.filter((s) => s.verified !== true)
    const failedCount = d.failed ?? failedSets.length
    const verifiedCount = d.verified ?? sets.length - failedSets.length
    return {
      failedCount,
      verifiedCount,
      total: verifiedCount + failedCount,
      failedSets: failedSets.map((s) => `${s.set ?? '?'} (${s.failedCheck ?? 'failed'})`),
      verifiedSets: sets.filter((s) => s.verified === true).map((s) => s.set ?? '?'),
      allSets: sets.map((s) => s.set ?? '?'),
    }
  },
}
