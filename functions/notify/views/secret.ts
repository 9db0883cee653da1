import { formatDuration } from '../../../shared/duration.ts'
import { and, clip, facts, MAX_FACTS, nsName, num, plural, rec, recs, relative, sentence, some, stamp, str, strs, took, when, workloads, written, type Data, type Template } from './read.ts'

// --- secret ---------------------------------------------------------------

/** Where a failed rotation step's cause usually lies, by step. */
const ROTATION_CAUSES: Record<string, string> = {
  read: 'the Vault path and the ExternalSecret references in the config, and the function\'s Vault policy',
  generate: 'the secret\'s generate rule in the config',
  apply: 'the connection to the target and its admin credential (is the host reachable, may it ALTER ROLE or ACL SETUSER?)',
  verify: 'why the new credential cannot log in (pg_hba.conf, the role\'s LOGIN right, a Redis node that did not take the change)',
  write: 'Vault: did someone write the secret meanwhile (check-and-set), and may the function write the path?',
  sync: 'the ExternalSecret: is the external-secrets operator running, its SecretStore ready, and syncTimeout long enough?',
  restart: 'the consumer\'s rollout, with `kubectl rollout status`: probes, image, or ProgressDeadlineExceeded',
}

/** What a person must finish by hand when an undo step failed, by step. */
const UNDO_FIXES: Record<string, string> = {
  write: 'Vault could not get the previous value back, so Vault and the target both keep the NEW credential: make sure every ExternalSecret has synced it and every consumer has restarted with it.',
  apply: 'Vault holds the previous value again but the target still has the NEW one: set the target\'s password back to the value in Vault now, or clients that reconnect will fail.',
  sync: 'The Kubernetes Secrets may still carry the new value: force-sync the ExternalSecrets and check that the Secrets carry the value in Vault.',
  restart: 'Some consumers may run with the wrong value: restart them by hand (`kubectl rollout restart`) and watch their rollouts.',
}

export function vaultPath(v: unknown): string | undefined {
  const vault = rec(v)
  const mount = str(vault.mount)
  const path = str(vault.path)
  return mount && path ? `${mount}/${path}` : path ?? mount
}

export function secretWhere(secret: string, path: string | undefined, target: string | undefined): string {
  return `secret ${secret}${path ? `, Vault ${path}` : ''}${target ? `, target ${target}` : ''}`
}

export function rotateRequest(secret: string): string {
  return `send dev.caretaker.secret.rotate.requested with {"secret": "${secret}"}`
}

const secretTemplates: Record<string, Template> = {
  'dev.caretaker.secret.rotated': (input, d) => {
    const secret = str(d.secret) ?? 'unknown secret'
    const trigger = str(d.trigger)
    if (d.dryRun === true) {
      const plan = rec(d.plan)
      const planVault = rec(plan.vault)
      const path = vaultPath(plan.vault) ?? vaultPath(d.vault)
      const target = str(plan.target) ?? str(rec(d.target).description)
      const current = num(planVault.currentVersion)
      const syncs = recs(plan.externalSecrets).map((e) => nsName({ namespace: e.namespace, name: e.secret ?? e.name })).filter((s): s is string => s !== undefined)
      const restarts = workloads(plan.restarts)
      const steps = [
        target && !/no external target/.test(target) ? `set a new password on ${target}` : 'generate a new value',
        path ? `write ${current !== undefined ? `version ${current + 1} of ` : ''}${path}` : undefined,
        syncs.length > 0 ? `sync ${plural(syncs.length, 'Secret')}` : undefined,
        restarts.length > 0 ? `restart ${some(restarts, 2)}` : undefined,
      ].filter((s): s is string => s !== undefined)
      return {
        severity: 'info',
        title: `Secret rotation planned: ${secret}`,
        what: `A rotation of ${secret} would ${and(steps)}.`,
        where: secretWhere(secret, path, target),
        action: `Nothing was changed. To rotate it now, ${rotateRequest(secret)} without dry-run; otherwise it rotates when due.`,
        facts: facts([
          ['Target', target],
          ['Vault', path && current !== undefined ? `${path} (version ${current})` : path],
          ['Last rotated', Object.keys(planVault).length > 0 ? when(planVault.rotatedAt, input.time) ?? 'not recorded' : undefined],
          ['Would sync', some(syncs)],
          ['Would restart', some(restarts)],
          ['Trigger', trigger],
        ]),
      }
    }
    const vault = rec(d.vault)
    const path = vaultPath(d.vault)
    const target = str(rec(d.target).description) ?? str(rec(d.target).kind)
    const version = num(vault.version)
    const previous = num(vault.previousVersion)
    const versions = version !== undefined ? (previous !== undefined && previous !== version ? `version ${previous} → ${version}` : `version ${version}`) : undefined
    if (d.alreadyRotated === true) {
      const at = stamp(d.rotatedAt)
      return {
        severity: 'info',
        title: `Secret already rotated: ${secret} (request delivered again)`,
        what: `This request had rotated ${secret} already${at ? ` at ${at}` : ''}; it was not rotated a second time.`,
        where: secretWhere(secret, path, target),
        action: 'Nothing to do.',
        facts: facts([['Vault', path && versions ? `${path} (${versions})` : path], ['Rotated', when(d.rotatedAt, input.time)], ['Trigger', trigger]]),
      }
    }
    const synced = recs(d.externalSecrets).map((e) => nsName({ namespace: e.namespace, name: e.secret ?? e.name })).filter((s): s is string => s !== undefined)
    const restarted = workloads(d.consumers)
    const warnings = strs(d.warnings)
    const oldStillValid = d.oldCredentialRemoved === false
    const lockout = num(d.lockoutWindowMs)
    const problem = warnings.length > 0 || oldStillValid
    return {
      severity: problem ? 'warning' : 'info',
      title: problem ? `Secret rotated, with a warning: ${secret}${oldStillValid ? ' (old password still valid)' : ''}` : `Secret rotated: ${secret}${version !== undefined ? ` (Vault version ${version})` : ''}`,
      what: `${secret} has a new value${target ? ` on ${target}` : ''}${versions ? `, Vault ${versions}` : ''}; ${synced.length > 0 ? `${plural(synced.length, 'Secret')} synced` : 'no Secret to sync'} and ${restarted.length > 0 ? `${plural(restarted.length, 'workload')} restarted` : 'no workload to restart'}.${warnings[0] ? ` But ${sentence(clip(warnings[0], 200))}` : ''}`,
      where: secretWhere(secret, path, target),
      action: oldStillValid
        ? 'The new credential works everywhere, but the old password is still valid: remove it from the ACL user on every Redis node by hand (`ACL SETUSER <user>` with `<` and the old password), or rotate again.'
        : warnings[0]
          ? `The rotation worked; deal with the warning: ${sentence(clip(warnings[0], 200))}`
          : 'Nothing to do. An app that now fails to log in is not among the consumers: restart it and add it to the secret\'s consumers.',
      facts: facts([
        ['Target', target],
        ['Vault', path && versions ? `${path} (${versions})` : path],
        ['Synced', some(synced)],
        ['Restarted', some(restarted)],
        ['Lockout window', lockout === undefined ? undefined : lockout === 0 ? 'none' : formatDuration(lockout)],
        ['Old password', typeof d.oldCredentialRemoved === 'boolean' ? (d.oldCredentialRemoved ? 'removed' : 'STILL VALID') : undefined],
        ['Next due', when(d.dueAt, input.time)],
        ['Trigger', trigger],
      ]),
    }
  },
  'dev.caretaker.secret.rotation.failed': (_input, d) => {
    const secret = str(d.secret) ?? 'unknown secret'
    const step = str(d.failedStep) ?? 'unknown'
    const reason = str(d.reason)
    const path = vaultPath(d.vault)
    const target = str(rec(d.target).description) ?? str(rec(d.target).kind)
    const inVault = str(d.credentialInVault)
    const undo = recs(d.rollback)
    const undoFailed = undo.filter((u) => u.ok === false).map((u) => str(u.step) ?? '?')
    const where = secretWhere(secret, path, target)
    const common = facts([['Trigger', str(d.trigger)], ['Took', took(d.durationMs)]])
    if (step === 'lock') {
      const holder = str(d.heldBy)
      return {
        severity: 'warning',
        title: `Secret rotation not started: ${secret} (another rotation holds the lock)`,
        what: reason ? sentence(clip(reason, 300)) : `Another rotation of ${secret} holds its lock; nothing was changed.`,
        where,
        action: `Nothing was changed. If no other rotation of ${secret} is running, its Lease rotate-secret.${secret} is stale: wait for it to expire (leaseDuration) or delete it, then ${rotateRequest(secret)}.`,
        facts: [...facts([['Failed step', 'lock'], ['Held by', holder], ['Changed', 'nothing']]), ...common],
      }
    }
    const rolledBack = d.rolledBack !== false
    const changed = d.changed === true
    const vaultHolds = inVault ? `the ${inVault} value${path ? ` (${path})` : ''}` : undefined
    const cause = ROTATION_CAUSES[step] ?? 'the step\'s message and the function\'s log'
    const state = !rolledBack
      ? `The rollback did NOT complete (${undoFailed.length > 0 ? `undo of ${and(undoFailed)} failed` : 'see the undo steps'})${vaultHolds ? `; Vault holds ${vaultHolds}` : ''}.`
      : changed ? 'Everything done was undone: Vault, the target and the consumers have the previous credential.' : 'Nothing had been changed yet.'
    const fixes = undoFailed.map((s) => UNDO_FIXES[s]).filter((f): f is string => f !== undefined)
    return {
      severity: rolledBack ? 'warning' : 'critical',
      title: `Secret rotation FAILED: ${secret} (step ${step}, ${rolledBack ? (changed ? 'rolled back' : 'nothing changed') : 'NOT rolled back'})`,
      what: `The ${step} step failed${reason ? `: ${sentence(clip(reason, 240))}` : '.'} ${state}`,
      where,
      action: rolledBack
        ? `Nothing is broken; ${secret} was not rotated and stays due. Fix the cause: ${sentence(cause)} Then ${rotateRequest(secret)}.`
        : `Fix by hand now: ${fixes.length > 0 ? fixes.join(' ') : `make sure the credential in Vault${path ? ` (${path})` : ''} works against the target, the Secrets carry it and the consumers run with it.`} Then, before rotating again, fix the cause of the ${step} failure: ${sentence(cause)}`,
      facts: [
        ...facts([
          ['Failed step', step],
          ['Rolled back', rolledBack ? 'yes' : 'NO'],
          ['Undo', undo.length > 0 ? undo.map((u) => `${str(u.step) ?? '?'} ${u.ok === true ? 'ok' : 'FAILED'}`).join(', ') : undefined],
          ['Vault holds', vaultHolds],
          ['Changed', typeof d.changed === 'boolean' ? (changed ? 'yes' : 'nothing') : undefined],
          ['Target', target],
        ]),
        ...common,
      ].slice(0, MAX_FACTS),
    }
  },
  'dev.caretaker.secret.sweep.completed': (input, d) => {
    const rows = recs(d.secrets)
    const name = (r: Data) => str(r.secret) ?? '?'
    const dueRows = rows.filter((r) => r.due === true)
    const rotatedRows = rows.filter((r) => r.result === 'rotated')
    const failedRows = rows.filter((r) => r.result === 'failed')
    const notDue = rows.filter((r) => r.due === false)
    const due = num(d.due) ?? dueRows.length
    const rotated = num(d.rotated) ?? rotatedRows.length
    const failed = num(d.failed) ?? failedRows.length
    const dryRun = d.dryRun === true
    const next = notDue
      .map((r) => ({ name: name(r), dueAt: r.dueAt, t: typeof r.dueAt === 'string' ? Date.parse(r.dueAt) : Number.NaN }))
      .filter((r) => Number.isFinite(r.t))
      .sort((a, b) => a.t - b.t)[0]
    const notRolledBack = failedRows.some((r) => r.rolledBack === false)
    const parts = [
      failedRows.length > 0 ? `Failed: ${some(failedRows.map((r) => `${name(r)} (step ${str(r.failedStep) ?? '?'}, ${r.rolledBack === false ? 'NOT rolled back' : 'rolled back'})`))}.` : undefined,
      rotatedRows.length > 0 ? `Rotated: ${some(rotatedRows.map(name))}.` : undefined,
      dryRun && dueRows.length > 0 ? `Due: ${some(dueRows.map((r) => `${name(r)} (${clip(str(r.reason) ?? 'due', 70)})`), 3, '; ')}.` : undefined,
      notDue.length > 0 ? `Not due: ${notDue.length}${next ? `; next is ${next.name}, ${relative(next.dueAt, input.time) ?? stamp(next.dueAt)}` : ''}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    return {
      severity: failed > 0 ? (notRolledBack ? 'critical' : 'warning') : 'info',
      title: failed > 0 ? `Secret sweep: ${failed} of ${plural(due, 'due rotation')} FAILED`
        : due === 0 ? `Secret sweep: none of ${plural(rows.length, 'secret')} due`
          : dryRun ? `Secret sweep: ${due} of ${plural(rows.length, 'secret')} due`
            : `Secret sweep: ${plural(rotated, 'secret')} rotated`,
      what: parts.join(' ') || 'No secret is configured.',
      where: `every configured secret (${rows.length})`,
      action: failed > 0
        ? notRolledBack
          ? `Fix ${and(failedRows.filter((r) => r.rolledBack === false).map(name))} now: NOT rolled back; its own message says what to finish by hand. A failed secret stays due and is retried at the next sweep.`
          : 'Nothing is broken. Each failed rotation has its own message with the cause; the secret stays due and is retried at the next sweep.'
        : dryRun && due > 0 ? 'Nothing was changed. The due secrets rotate at the first sweep without dry-run; to rotate one now, send dev.caretaker.secret.rotate.requested.'
          : 'Nothing to do.',
      facts: facts([
        ['Secrets', rows.length],
        ['Due', due],
        ['Rotated', dryRun ? undefined : rotated],
        ['Failed', dryRun ? undefined : failed],
        ['Next due', next ? `${next.name}, ${when(next.dueAt, input.time) ?? '?'}` : undefined],
        ['Checked', stamp(d.checkedAt)],
      ]),
    }
  },
}

export const secretViews = written(secretTemplates)
