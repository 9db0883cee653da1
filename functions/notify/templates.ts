import { eventTypeDefinition } from '../../shared/events/catalogue.ts'
import { formatDuration } from '../../shared/duration.ts'
import { SEVERITIES as SEVERITY_ORDER, type Severity } from './config.ts'

/**
 * What a person reads: a title, what happened, where, what to do, a few facts
 * and links. One template per outbound type of the catalogue, each reading the
 * fields its function really sends; every other type gets the generic one,
 * built from the catalogue's description and the event's data, so a type
 * added later still reads sensibly. A template never throws on missing or
 * unexpected data, summarises lists (counts and the first few names), and
 * never prints a secret's value (no field holding one is ever read).
 */

export interface Fact {
  readonly label: string
  readonly value: string
}

export interface Link {
  readonly label: string
  readonly url: string
}

export interface Message {
  readonly type: string
  readonly subject: string | undefined
  readonly severity: Severity
  readonly title: string
  readonly what: string
  readonly where: string
  readonly action: string
  readonly facts: readonly Fact[]
  readonly links: readonly Link[]
  /** When the event happened (the event's time). */
  readonly time: string
}

export interface TemplateInput {
  readonly type: string
  readonly subject: string | undefined
  readonly data: unknown
  readonly time: string
}

type Data = Record<string, unknown>
type Body = Omit<Message, 'type' | 'subject' | 'time' | 'links'> & { links?: Link[] }
type Template = (input: TemplateInput, data: Data) => Body

const MAX_FACTS = 8
const MAX_VALUE = 160
const MAX_TITLE = 180

// Reading the data. An event may lack any field or carry the wrong type: each
// reader answers undefined (or an empty list) rather than throw, and no text
// built from them says "undefined", "NaN" or "[object Object]".

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function rec(v: unknown): Data {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Data : {}
}

function recs(v: unknown): Data[] {
  return Array.isArray(v) ? v.filter((x): x is Data => x !== null && typeof x === 'object' && !Array.isArray(x)) : []
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : []
}

function clip(text: string, max = MAX_VALUE): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** The first few of a list and how many more: `a, b, c and 4 more`. */
function some(items: readonly string[], max = 3, separator = ', '): string {
  if (items.length <= max) return items.join(separator)
  return `${items.slice(0, max).join(separator)} and ${items.length - max} more`
}

/** `a`, `a and b`, `a, b and c`. */
function and(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

function sentence(text: string): string {
  const t = text.trim()
  return /[.!?:]$/.test(t) ? t : `${t}.`
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function bytes(n: unknown): string | undefined {
  if (num(n) === undefined) return undefined
  const b = n as number
  if (b < 1024) return `${b} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = b / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

function age(iso: unknown, now: string): string | undefined {
  if (typeof iso !== 'string') return undefined
  const ms = Date.parse(now) - Date.parse(iso)
  return Number.isFinite(ms) ? `${formatDuration(ms)} old` : undefined
}

function took(ms: unknown): string | undefined {
  const n = num(ms)
  return n === undefined ? undefined : formatDuration(n)
}

/** `2026-11-28 06:00 UTC`. */
function stamp(iso: unknown): string | undefined {
  const t = typeof iso === 'string' ? Date.parse(iso) : Number.NaN
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : undefined
}

/** `in 6d 2h` or `3h ago`, from the event's time. */
function relative(iso: unknown, now: string): string | undefined {
  const ms = (typeof iso === 'string' ? Date.parse(iso) : Number.NaN) - Date.parse(now)
  if (!Number.isFinite(ms)) return undefined
  if (Math.abs(ms) < 60_000) return 'now'
  return ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`
}

/** `2026-11-28 06:00 UTC (in 6d)`. */
function when(iso: unknown, now: string): string | undefined {
  const s = stamp(iso)
  const r = relative(iso, now)
  return s && r ? `${s} (${r})` : s
}

/** `namespace/name`, or the name alone. */
function nsName(d: Data): string | undefined {
  const name = str(d.name)
  const ns = str(d.namespace)
  return name ? (ns ? `${ns}/${name}` : name) : undefined
}

function facts(pairs: Array<[string, string | number | undefined]>): Fact[] {
  return pairs
    .filter((p): p is [string, string | number] => (typeof p[1] === 'string' && p[1].length > 0) || num(p[1]) !== undefined)
    .slice(0, MAX_FACTS)
    .map(([label, value]) => ({ label, value: clip(String(value)) }))
}

function severityOf(v: unknown): Severity | undefined {
  return v === 'critical' || v === 'warning' || v === 'info' ? v : undefined
}

/** Counts per value of a field: `{ deleted: 3, keep: 9 }`. */
function tally(items: readonly Data[], field: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const i of items) {
    const k = str(i[field])
    if (k) out.set(k, (out.get(k) ?? 0) + 1)
  }
  return out
}

// --- backup ---------------------------------------------------------------

/** What to do when a backup check fails, by check. */
const BACKUP_ACTIONS: Record<string, string> = {
  job: 'The backup Job failed: read its logs (`kubectl logs job/<name> -n <namespace>`), fix the cause, then run the CronJob by hand.',
  presence: 'No backup artifact was found: check that the backup CronJob ran and wrote to the backup volume.',
  age: 'The newest backup is older than the set\'s RPO: check the CronJob\'s last Jobs (suspended? failing?) and run it by hand.',
  size: 'The newest backup is too small or shrank sharply: compare it with the one before and check the backup Job\'s logs before trusting it.',
  integrity: 'The newest backup is corrupt: keep the last good one, take a new backup now and find out why it broke (disk full, killed Job).',
  checksum: 'The backup does not match its checksum: it changed after it was written; take a new backup and check the volume.',
  restore: 'The backup does not restore: take a new backup now and keep the last one that restored; do not rely on this one.',
  longhorn: 'A Longhorn volume backup is missing, failed or stale: look at the volume\'s backups in Longhorn and the backup target.',
  depth: 'The set does not hold the history its retention asks for, or holds far more: check the clean-up (its pattern, its schedule) and where the older backups went.',
}

const backupTemplates: Record<string, Template> = {
  'dev.caretaker.backup.verified': (input, d) => {
    const set = str(d.set) ?? 'unknown set'
    const artifact = rec(d.artifact)
    const name = str(artifact.name)
    const path = str(artifact.path)
    const format = str(d.format)
    const checks = recs(d.checks).map((c) => str(c.check)).filter((c): c is string => c !== undefined)
    return {
      severity: 'info',
      title: `Backup verified: ${set}`,
      what: `The newest ${format ? `${format} ` : ''}backup${name ? ` ${name}` : ''} passed every check (${checks.join(', ') || 'none'}).`,
      where: `backup set ${set}${path ? ` at ${path}` : ''}`,
      action: 'Nothing to do.',
      facts: facts([['Size', bytes(artifact.size)], ['Age', age(artifact.time ?? artifact.modified, input.time)], ['Took', took(d.durationMs)], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.backup.verification.failed': (input, d) => {
    const set = str(d.set) ?? 'unknown set'
    const artifact = rec(d.artifact)
    const path = str(artifact.path)
    const failed = str(d.failedCheck) ?? 'unknown'
    const checks = recs(d.checks)
    const failing = checks.find((c) => c.check === failed && c.ok === false) ?? checks.at(-1)
    const message = str(failing?.message)
    return {
      severity: 'critical',
      title: `Backup verification FAILED: ${set} (${failed} check)`,
      what: message ? `The ${failed} check failed: ${clip(message, 300)}` : `The ${failed} check failed.`,
      where: `backup set ${set}${path ? ` at ${path}` : ''}`,
      action: BACKUP_ACTIONS[failed] ?? BACKUP_ACTIONS[str(failing?.check) ?? ''] ?? 'Look at the set\'s report and the backup Job; until it passes, the last verified backup is the one to restore from.',
      facts: facts([['Format', str(d.format)], ['Artifact', str(artifact.name)], ['Size', bytes(artifact.size)], ['Age', age(artifact.time ?? artifact.modified, input.time)], ['Passed', checks.filter((c) => c.ok === true).map((c) => str(c.check)).filter(Boolean).join(', ') || undefined], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.backup.restore.started': (input, d) => {
    const set = str(d.set) ?? 'unknown set'
    const artifact = rec(d.artifact)
    const restore = rec(d.restore)
    return {
      severity: 'info',
      title: `Backup restore test started: ${set}`,
      what: `${str(artifact.name) ?? 'The newest backup'} passed ${recs(d.checks).map((c) => str(c.check)).filter(Boolean).join(', ') || 'its checks'}; its restore test runs as Job ${str(restore.job) ?? '?'} in ${str(restore.image) ?? '?'}.`,
      where: `backup set ${set}${str(artifact.path) ? ` at ${str(artifact.path)}` : ''}`,
      action: 'Nothing to do: the verdict follows when the Job finishes.',
      facts: facts([['Job', str(restore.namespace) && str(restore.job) ? `${str(restore.namespace)}/${str(restore.job)}` : undefined], ['Size', bytes(artifact.size)], ['Age', age(artifact.time ?? artifact.modified, input.time)], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.backup.sweep.completed': (_input, d) => {
    const sets = recs(d.sets)
    const failed = sets.filter((s) => s.verified !== true)
    const failedCount = num(d.failed) ?? failed.length
    const verifiedCount = num(d.verified) ?? sets.length - failed.length
    return {
      severity: failedCount > 0 ? 'critical' : 'info',
      title: failedCount > 0 ? `Backup sweep: ${failedCount} of ${verifiedCount + failedCount} sets FAILED` : `Backup sweep: all ${verifiedCount} sets verified`,
      what: failedCount > 0
        ? `Failed: ${failed.map((s) => `${str(s.set) ?? '?'} (${str(s.failedCheck) ?? 'failed'})`).join(', ') || 'see the sets\' own messages'}. Verified: ${sets.filter((s) => s.verified === true).map((s) => str(s.set) ?? '?').join(', ') || 'none'}.`
        : `Every configured backup set passed: ${sets.map((s) => str(s.set) ?? '?').join(', ') || 'none configured'}.`,
      where: 'every configured backup set',
      action: failedCount > 0 ? 'Each failed set has its own message saying what to do; fix those today.' : 'Nothing to do.',
      facts: facts([['Verified', String(verifiedCount)], ['Failed', String(failedCount)]]),
    }
  },
}

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

function vaultPath(v: unknown): string | undefined {
  const vault = rec(v)
  const mount = str(vault.mount)
  const path = str(vault.path)
  return mount && path ? `${mount}/${path}` : path ?? mount
}

/** `Deployment production/api`. */
function workloads(v: unknown): string[] {
  return recs(v).map((w) => [str(w.kind), nsName(w)].filter(Boolean).join(' ')).filter((s) => s.length > 0)
}

function secretWhere(secret: string, path: string | undefined, target: string | undefined): string {
  return `secret ${secret}${path ? `, Vault ${path}` : ''}${target ? `, target ${target}` : ''}`
}

function rotateRequest(secret: string): string {
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

// --- certificate ----------------------------------------------------------

const CERTIFICATE_ACTIONS: Record<string, string> = {
  none: 'nothing (not due for a renewal request)',
  'renewal-requested': 'renewal requested',
  'would-request-renewal': 'renewal would be requested (dry-run)',
  cooldown: 'renewal requested earlier, within the cooldown',
  issuing: 'issuance in progress',
  stuck: 'issuance stuck, reported',
  'request-deleted': 'issuance stuck, failed request deleted for a retry',
  'would-delete-request': 'issuance stuck, failed request would be deleted (dry-run)',
  restarted: 're-issued, workloads restarted',
  'would-restart': 're-issued, workloads would be restarted (dry-run)',
}

function certificate(d: Data): string {
  return nsName(d) ?? 'unknown Certificate'
}

function certificateWhere(d: Data): string {
  const secret = str(d.secretName)
  return `Certificate ${certificate(d)}${secret ? ` (Secret ${secret})` : ''}`
}

/** A cmctl command line for the Certificate: `cmctl status certificate -n production api-tls`. */
function cmctl(verb: 'status certificate' | 'renew', d: Data): string {
  const ns = str(d.namespace)
  return `\`cmctl ${verb}${ns ? ` -n ${ns}` : ''} ${str(d.name) ?? '<name>'}\``
}

/** Seconds until expiry: the row's own, else from notAfter. */
function expiresIn(d: Data, now: string): number | undefined {
  const s = num(d.expiresInSeconds)
  if (s !== undefined) return s
  const ms = (typeof d.notAfter === 'string' ? Date.parse(d.notAfter) : Number.NaN) - Date.parse(now)
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

/** `in 6d 2h` / `EXPIRED 2d ago`. */
function expiry(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined
  return seconds > 0 ? `in ${formatDuration(seconds * 1000)}` : `EXPIRED ${formatDuration(-seconds * 1000)} ago`
}

const certificateTemplates: Record<string, Template> = {
  'dev.caretaker.certificate.stuck': (input, d) => {
    const name = certificate(d)
    const request = rec(d.request)
    const requestName = str(request.name)
    const failed = request.failed === true
    const stuckFor = num(d.stuckForSeconds)
    const action = str(d.action)
    const why = requestName
      ? `CertificateRequest ${requestName} is ${str(request.reason) ?? 'not done'}${str(request.message) ? `: ${clip(str(request.message)!, 200)}` : ''}`
      : 'no CertificateRequest exists for the revision being issued'
    return {
      severity: failed ? 'critical' : 'warning',
      title: `Certificate issuance stuck: ${name}${stuckFor !== undefined ? ` (issuing for ${formatDuration(stuckFor * 1000)})` : ''}`,
      what: `${name} has been issuing since ${when(d.issuingSince, input.time) ?? 'a while'} and is not done: ${sentence(why)}${action === 'request-deleted' ? ' The failed request was deleted so that cert-manager makes a new one.' : action === 'would-delete-request' ? ' Dry-run: the failed request would be deleted so that cert-manager makes a new one.' : ''}`,
      where: certificateWhere(d),
      action: action === 'request-deleted'
        ? `Check within the hour that the new request succeeds: ${cmctl('status certificate', d)}.`
        : failed
          ? `The request will not finish by itself: fix what it names (issuer, DNS, approval), then delete it (\`kubectl delete certificaterequest -n ${str(d.namespace) ?? '<namespace>'} ${requestName ?? '<name>'}\`) or turn on retryFailedRequests for renew-certificate.`
          : `Look at what it waits for: ${cmctl('status certificate', d)} names the Order and Challenge (HTTP-01 reachability, DNS-01 records, the issuer's readiness).`,
      facts: facts([
        ['Issuing since', when(d.issuingSince, input.time)],
        ['Request', requestName],
        ['Request state', str(request.reason)],
        ['Ready reason', str(d.readyReason)],
        ['Done', action === 'reported' ? 'reported' : action],
        ['Trigger', str(d.trigger)],
      ]),
    }
  },
  'dev.caretaker.certificate.renewal.triggered': (input, d) => {
    const name = certificate(d)
    const notReady = d.reason === 'not-ready'
    const requested = d.requested === true
    const left = expiresIn(d, input.time)
    const message = str(d.message)
    const severity: Severity = left !== undefined && left <= 0 ? 'critical' : notReady || (left !== undefined && left < 7 * 86_400) ? 'warning' : 'info'
    return {
      severity,
      title: `Certificate renewal ${requested ? 'requested' : 'planned'}: ${name} (${notReady ? 'not Ready' : d.reason === 'renewal-due' ? 'renewal due' : 'renewal'})`,
      what: `${requested ? 'cert-manager was asked' : 'cert-manager would be asked'} to re-issue ${name}, as \`cmctl renew\` does${message ? `: ${sentence(clip(message, 240))}` : '.'}`,
      where: certificateWhere(d),
      action: !requested
        ? `Nothing was changed. To renew it now: ${cmctl('renew', d)}.`
        : notReady
          ? `Check within the hour that it becomes Ready: ${cmctl('status certificate', d)}. If not, the failing CertificateRequest or Order it names says why (issuer, DNS or HTTP-01 challenge).`
          : `Nothing to do unless the re-issue fails: ${cmctl('status certificate', d)} in a few minutes shows it; the new revision restarts the opted-in workloads.`,
      facts: facts([
        ['Why', notReady ? 'not Ready' : d.reason === 'renewal-due' ? 'past its renewal time' : str(d.reason)],
        ['Ready reason', str(d.readyReason)],
        ['Expires', when(d.notAfter, input.time)],
        ['Renewal time', when(d.renewalTime, input.time)],
        ['Trigger', str(d.trigger)],
      ]),
    }
  },
  'dev.caretaker.certificate.reissued': (_input, d) => {
    const name = certificate(d)
    const revision = num(d.revision)
    const previous = num(d.previousRevision)
    const list = recs(d.workloads)
    const names = workloads(list)
    const dryRun = d.dryRun === true
    const notRestarted = list.filter((w) => w.restarted !== true)
    const secret = str(d.secretName)
    const revisions = revision !== undefined ? (previous !== undefined ? `${previous} → ${revision}` : String(revision)) : undefined
    return {
      severity: 'info',
      title: `Certificate re-issued: ${name}${revision !== undefined ? ` (revision ${revision})` : ''}${names.length > 0 ? `, ${plural(names.length, 'workload')} ${dryRun ? 'to restart' : 'restarted'}` : ''}`,
      what: `${secret ? `The Secret ${secret}` : 'Its Secret'} carries a new certificate${revisions ? ` (revision ${revisions})` : ''}; ${names.length === 0
        ? 'no workload mounts it with the opt-in annotation, so none was restarted.'
        : `${dryRun ? 'would restart' : 'restarted'} ${some(names)} so ${names.length === 1 ? 'it serves' : 'they serve'} it.`}`,
      where: certificateWhere(d),
      action: names.length === 0
        ? 'Nothing to do, unless a workload reads this Secret only at start: give it the annotation caretaker.dev/restart-on-certificate-renewal: "true", or restart it by hand.'
        : dryRun || notRestarted.length > 0
          ? `Nothing was restarted${dryRun ? ' (dry-run)' : ''}: until restarted, ${names.length === 1 ? 'it serves' : 'they serve'} the old certificate; restart by hand with \`kubectl rollout restart\`.`
          : 'Nothing to do. If clients report TLS errors, check the restarted workloads\' rollouts (`kubectl rollout status`).',
      facts: facts([['Revision', revisions], ['Secret', secret], [dryRun ? 'Would restart' : 'Restarted', some(names)], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.certificate.expiring': (input, d) => {
    const name = certificate(d)
    const left = expiresIn(d, input.time)
    const expired = left !== undefined && left <= 0
    const ready = d.ready !== false
    const action = str(d.action)
    const readyReason = str(d.readyReason)
    const readyMessage = str(d.readyMessage)
    const threshold = num(d.thresholdSeconds)
    const at = stamp(d.notAfter)
    const state = !ready ? `it is not Ready (${readyReason ?? 'no reason given'}${readyMessage ? `: ${clip(readyMessage, 120)}` : ''})`
      : d.issuing === true || action === 'issuing' ? 'an issuance is in progress'
        : action === 'renewal-requested' ? 'a renewal was requested just now'
          : action === 'would-request-renewal' ? 'a renewal would be requested (dry-run)'
            : action === 'cooldown' ? 'a renewal was requested earlier and has not succeeded yet'
              : `it is Ready, but cert-manager has not renewed it${stamp(d.renewalTime) ? ` (its renewal time is ${stamp(d.renewalTime)!})` : ''}`
    const todo = !ready
      ? `cert-manager cannot issue it: ${cmctl('status certificate', d)} names the failing CertificateRequest or Order; fix the issuer or the challenge (DNS, HTTP-01), then ${cmctl('renew', d)}.`
      : d.issuing === true || action === 'issuing' || action === 'renewal-requested'
        ? `Check that the issuance completes within the hour: ${cmctl('status certificate', d)}; if it stalls, read the CertificateRequest and Order it names.`
        : `Find out why cert-manager has not renewed it (${cmctl('status certificate', d)}), then renew it: ${cmctl('renew', d)}.`
    return {
      severity: severityOf(d.severity) ?? (expired ? 'critical' : 'warning'),
      title: expired ? `Certificate EXPIRED: ${name}${left !== undefined ? ` (${formatDuration(-left * 1000)} ago)` : ''}` : `Certificate expiring${left !== undefined ? ` in ${formatDuration(left * 1000)}` : ''}: ${name}`,
      what: `${name} ${expired ? 'expired' : 'expires'}${at ? ` at ${at}` : ''}${threshold !== undefined && !expired ? `, within the ${formatDuration(threshold * 1000)} threshold` : ''}; ${state}.`,
      where: certificateWhere(d),
      action: `${expired ? 'Clients get TLS errors now. ' : ''}${todo}`,
      facts: facts([
        ['Expires', when(d.notAfter, input.time)],
        ['Ready', typeof d.ready === 'boolean' ? (ready ? 'yes' : `no${readyReason ? ` (${readyReason})` : ''}`) : undefined],
        ['Renewal time', when(d.renewalTime, input.time)],
        ['Done', action ? CERTIFICATE_ACTIONS[action] ?? action : undefined],
        ['Revision', num(d.revision)],
        ['Threshold', threshold !== undefined ? formatDuration(threshold * 1000) : undefined],
      ]),
    }
  },
  'dev.caretaker.certificates.reported': (input, d) => {
    const rows = recs(d.certificates)
    const total = num(d.total) ?? rows.length
    const expiringRows = rows.filter((r) => r.expiring === true)
      .map((r) => ({ r, left: expiresIn(r, input.time) }))
      .sort((a, b) => (a.left ?? Number.MAX_SAFE_INTEGER) - (b.left ?? Number.MAX_SAFE_INTEGER))
    const notReadyRows = rows.filter((r) => r.ready === false)
    const expiring = num(d.expiring) ?? expiringRows.length
    const notReady = num(d.notReady) ?? notReadyRows.length
    const renewals = num(d.renewalsRequested) ?? rows.filter((r) => r.action === 'renewal-requested' || r.action === 'would-request-renewal').length
    const expired = expiringRows.filter((e) => e.left !== undefined && e.left <= 0).length
    const threshold = num(d.thresholdSeconds)
    const namespaces = [...new Set(rows.map((r) => str(r.namespace)).filter((n): n is string => n !== undefined))].sort()
    const problems = expiring > 0 || notReady > 0
    const parts = [
      expiringRows.length > 0 ? `Expiring: ${some(expiringRows.map((e) => `${certificate(e.r)} (${expiry(e.left) ?? 'soon'})`))}.` : undefined,
      notReadyRows.length > 0 ? `Not Ready: ${some(notReadyRows.map((r) => `${certificate(r)} (${str(r.readyReason) ?? '?'})`))}.` : undefined,
      renewals > 0 ? `${d.dryRun === true ? 'Renewal would be requested for' : 'Renewal requested for'} ${plural(renewals, 'Certificate')}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    const soonest = rows.map((r) => ({ r, left: expiresIn(r, input.time) })).filter((e) => e.left !== undefined).sort((a, b) => a.left! - b.left!)[0]
    return {
      severity: expired > 0 ? 'critical' : problems ? 'warning' : 'info',
      title: problems
        ? `Certificates: ${[expired > 0 ? `${expired} EXPIRED` : undefined, expiring - expired > 0 ? `${expiring - expired} expiring` : undefined, notReady > 0 ? `${notReady} not Ready` : undefined].filter(Boolean).join(', ')} (of ${total})`
        : `Certificates: all ${total} Ready, none expiring${threshold !== undefined ? ` within ${formatDuration(threshold * 1000)}` : ''}`,
      what: parts.join(' ') || `Every Certificate is Ready and none expires${threshold !== undefined ? ` within ${formatDuration(threshold * 1000)}` : ' soon'}.`,
      where: namespaces.length > 0 ? `${plural(total, 'Certificate')} in ${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'every Certificate of the configured namespaces',
      action: problems
        ? `Each expiring Certificate has its own message; for a not-Ready one, ${notReadyRows[0] ? cmctl('status certificate', notReadyRows[0]) : '`cmctl status certificate -n <namespace> <name>`'} names the failing request. Fix these today.`
        : 'Nothing to do.',
      facts: facts([
        ['Certificates', total],
        ['Expiring', expiring],
        ['Not Ready', notReady],
        ['Renewals requested', renewals],
        ['Soonest expiry', soonest ? `${certificate(soonest.r)} ${expiry(soonest.left)!}` : undefined],
        ['Threshold', threshold !== undefined ? formatDuration(threshold * 1000) : undefined],
      ]),
    }
  },
}

// --- health ---------------------------------------------------------------

function objectName(o: Data): string {
  return [str(o.kind), nsName(o)].filter(Boolean).join(' ') || 'unknown object'
}

/** `Node worker-3 (KubeletNotReady)`, `Pod production/api-x (CrashLoopBackOff ×12)`. */
function healthFinding(f: Data): string {
  const count = num(f.count)
  const reason = str(f.reason)
  return `${objectName(rec(f.object))}${reason ? ` (${reason}${count !== undefined && count > 1 ? ` ×${count}` : ''})` : ''}`
}

/** The first thing to do about a health finding, by check. */
const HEALTH_HINTS: Record<string, (f: Data) => string> = {
  nodes: (f) => `\`kubectl describe node ${str(rec(f.object).name) ?? '<name>'}\` (kubelet, memory or disk pressure, network)`,
  vault: (f) => (f.reason === 'Sealed' ? 'unseal Vault with the unseal keys (a human step)' : `check Vault's Pods and Service (${str(f.reason) ?? 'unhealthy'})`),
  backups: (f) => {
    const o = rec(f.object)
    return o.kind === 'Job' ? `read the logs of backup Job ${nsName(o) ?? '?'} and run its CronJob by hand` : `check why backup CronJob ${nsName(o) ?? '?'} ran no Job (suspended? schedule?) and run it by hand`
  },
  certificates: (f) => cmctl('status certificate', rec(f.object)),
  pods: (f) => {
    const o = rec(f.object)
    return `\`kubectl describe pod${str(o.namespace) ? ` -n ${str(o.namespace)!}` : ''} ${str(o.name) ?? '<name>'}\` and its logs`
  },
  pvcs: (f) => {
    const o = rec(f.object)
    return `\`kubectl describe pvc${str(o.namespace) ? ` -n ${str(o.namespace)!}` : ''} ${str(o.name) ?? '<name>'}\` (storage class, provisioner)`
  },
  events: (f) => `look at ${objectName(rec(f.object))}: ${clip(str(f.message) ?? str(f.reason) ?? 'repeated Warning events', 100)}`,
  alerts: (f) => (rec(f.object).kind === 'Alertmanager' ? 'check Alertmanager\'s Pods and Service: alerts may go unseen' : `follow alert ${str(rec(f.object).name) ?? '?'}'s runbook (amtool alert query alertname=${str(rec(f.object).name) ?? '?'})`),
  longhorn: (f) => {
    const o = rec(f.object)
    return f.reason === 'NoBackupJob' || f.reason === 'BackupStale' || f.reason === 'NeverBackedUp'
      ? `give volume ${str(o.name) ?? '?'} a backup RecurringJob (label recurring-job-group.longhorn.io/<group>=enabled) and check the backup target`
      : `\`kubectl -n ${str(o.namespace) ?? 'longhorn-system'} get replicas.longhorn.io -l longhornvolume=${str(o.name) ?? '<volume>'}\` (node, disk, rebuild)`
  },
  externalsecrets: (f) => {
    const o = rec(f.object)
    return `\`kubectl describe externalsecret${str(o.namespace) ? ` -n ${str(o.namespace)!}` : ''} ${str(o.name) ?? '<name>'}\` (its SecretStore, the Vault path)`
  },
}

/** Hints for the first findings of distinct checks. */
function healthHints(findings: readonly Data[], max: number): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const f of findings) {
    const check = str(f.check)
    if (!check || seen.has(check)) continue
    seen.add(check)
    const hint = HEALTH_HINTS[check]
    if (hint) out.push(hint(f))
    if (out.length >= max) break
  }
  return out
}

/** A digest trend: `pods 3 → 1`, `critical 0 → 2 (max 4)`. */
function trendText(t: Data): string {
  const key = (str(t.key) ?? '?').replace(/^(check|reason):/, '')
  const max = num(t.max)
  const first = num(t.first) ?? 0
  const last = num(t.last) ?? 0
  return `${key} ${first} → ${last}${max !== undefined && max > Math.max(first, last) ? ` (max ${max})` : ''}`
}

/** A volume's fill growth: `production/data 60% → 79% (+19 pp/week, full in ~11 days)`. */
function fillText(g: Data): string {
  const perWeek = num(g.perWeek) ?? 0
  const days = num(g.daysToFull)
  return `${str(g.volume) ?? '?'} ${String(num(g.first) ?? '?')}% → ${String(num(g.last) ?? '?')}% (${perWeek > 0 ? '+' : ''}${perWeek} pp/week${days !== undefined ? `, full in ~${plural(days, 'day')}` : ''})`
}

/** The digest's raw figures in a few sentences, and whether a volume fills up within the horizon. */
function figuresText(figures: Data): { parts: string[]; filling: Data[] } {
  const restarts = rec(figures.restarts)
  const jobs = rec(figures.backupJobs)
  const fill = recs(figures.fill)
  const filling = fill.filter((g) => g.soon === true)
  const growing = fill.filter((g) => g.soon !== true && (num(g.perWeek) ?? 0) > 0)
  const alerts = recs(rec(figures.alerts).days)
  const previous = rec(restarts.previousWeek)
  const parts = [
    recs(restarts.days).length > 0 ? `Restarts per day: ${recs(restarts.days).map((d) => String(num(d.count) ?? '?')).join(', ')} (${String(num(restarts.total) ?? '?')} this week${num(previous.total) !== undefined ? `, ${String(num(previous.total))} the week before in ${plural(num(previous.days) ?? 0, 'day')}` : ''}).` : undefined,
    (num(jobs.failed) ?? 0) > 0 ? `Failed backup Jobs per day: ${recs(jobs.days).map((d) => String(num(d.failed) ?? '?')).join(', ')} (${String(num(jobs.failed))} failed, ${String(num(jobs.succeeded) ?? 0)} succeeded).` : undefined,
    filling.length > 0 ? `Filling up: ${some(filling.map(fillText), 3, '; ')}.` : undefined,
    growing.length > 0 ? `Growing: ${some(growing.map(fillText), 3, '; ')}.` : undefined,
    alerts.length > 0 ? `Firing alerts per day: ${alerts.map((d) => String(num(d.firing) ?? '?')).join(', ')}.` : undefined,
  ].filter((p): p is string => p !== undefined)
  return { parts, filling }
}

const healthTemplates: Record<string, Template> = {
  'dev.caretaker.health.digest': (_input, d) => {
    const days = recs(d.days)
    const reported = num(d.reported) ?? days.length
    const missing = strs(d.missing)
    const trends = recs(d.trends)
    const totals = trends.filter((t) => t.key === 'critical' || t.key === 'warning')
    const rising = trends.filter((t) => str(t.key)?.startsWith('check:') && (num(t.change) ?? 0) > 0)
    const falling = trends.filter((t) => str(t.key)?.startsWith('check:') && (num(t.change) ?? 0) < 0)
    const recurring = recs(d.recurring).map((r) => `${str(r.problem) ?? '?'} (${String(num(r.days) ?? '?')} days)`)
    const fresh = strs(d.new)
    const resolved = strs(d.resolved)
    const byStatus = tally(days, 'status')
    const status = d.status === 'critical' || d.status === 'degraded' || d.status === 'healthy' ? d.status : 'unknown'
    const previous = rec(d.previousWeek)
    const previousCounts = rec(previous.counts)
    const thisWeek = days.reduce((n, x) => n + (num(rec(x.counts).critical) ?? 0) + (num(rec(x.counts).warning) ?? 0), 0)
    const lastWeek = (num(previousCounts.critical) ?? 0) + (num(previousCounts.warning) ?? 0)
    const figures = figuresText(rec(d.figures))
    const restarts = rec(rec(d.figures).restarts)
    const parts = [
      totals.length > 0 ? `Findings: ${totals.map(trendText).join(', ')}.` : undefined,
      rising.length > 0 ? `Rising: ${some(rising.map(trendText), 4)}.` : undefined,
      falling.length > 0 ? `Falling: ${some(falling.map(trendText), 4)}.` : undefined,
      recurring.length > 0 ? `Recurring: ${some(recurring, 3, '; ')}.` : undefined,
      fresh.length > 0 ? `New on the last day: ${some(fresh, 3, '; ')}.` : undefined,
      resolved.length > 0 ? `Resolved: ${some(resolved, 3, '; ')}.` : undefined,
      ...figures.parts,
    ].filter((p): p is string => p !== undefined)
    const fillAction = figures.filling.length > 0 ? `${figures.filling.length === 1 ? 'A volume fills' : 'Volumes fill'} up within the horizon at this week's pace: grow ${figures.filling.length === 1 ? 'it' : 'them'} or free space.` : undefined
    return {
      severity: status === 'critical' || recurring.length > 0 || figures.filling.length > 0 ? 'warning' : 'info',
      title: reported === 0 ? 'Weekly health digest: no daily report recorded'
        : `Weekly health digest ${str(d.from) ?? '?'} – ${str(d.to) ?? '?'}: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}${recurring.length > 0 ? `, ${plural(recurring.length, 'recurring problem')}` : ''}`,
      what: reported === 0 ? 'No daily health report was recorded this week: is the daily check running, and may it write its history ConfigMap?' : (parts.join(' ') || 'No findings all week.'),
      where: 'the cluster, daily reports of the week',
      action: [
        recurring.length > 0 ? 'The recurring problems did not go away by themselves: give each an owner this week.' : undefined,
        fillAction,
        recurring.length === 0 && !fillAction && missing.length > 0 ? 'Some days have no report: check health-report\'s daily runs.' : undefined,
      ].filter((a) => a !== undefined).join(' ') || 'Nothing to do.',
      facts: facts([
        ['Days reported', `${reported} of 7`],
        ['Missing', some(missing, 7)],
        ['Latest status', status],
        ['Findings this week', reported > 0 ? thisWeek : undefined],
        ['Week before', Object.keys(previous).length > 0 ? `${lastWeek} in ${String(num(previous.reported) ?? '?')} days` : undefined],
        ['Restarts this week', num(restarts.total)],
        ['Soonest full', figures.filling[0] ? fillText(figures.filling[0]) : undefined],
      ]),
    }
  },
  'dev.caretaker.health.reported': (_input, d) => {
    const findings = recs(d.findings)
    const critical = findings.filter((f) => f.severity === 'critical')
    const warning = findings.filter((f) => f.severity === 'warning')
    const counts = rec(d.counts)
    const criticalCount = num(counts.critical) ?? critical.length
    const warningCount = num(counts.warning) ?? warning.length
    const status = d.status === 'critical' || d.status === 'degraded' || d.status === 'healthy' ? d.status
      : criticalCount > 0 ? 'critical' : warningCount > 0 ? 'degraded' : 'healthy'
    const checks = strs(d.checks)
    const skipped = recs(d.skipped).map((s) => `${str(s.check) ?? '?'} (${clip(str(s.reason) ?? 'skipped', 60)})`)
    const scanned = Object.entries(rec(d.scanned)).filter(([, n]) => num(n) !== undefined).map(([check, n]) => `${check} ${String(n)}`)
    const byCheck = [...tally(findings, 'check')].map(([check, n]) => `${check} ${n}`)
    const nodes = findings.map((f) => rec(f.object)).filter((o) => o.kind === 'Node').map((o) => str(o.name)).filter((n): n is string => n !== undefined)
    const namespaces = [...new Set(findings.map((f) => str(rec(f.object).namespace)).filter((n): n is string => n !== undefined))].sort()
    const where = [
      nodes.length > 0 ? `${nodes.length === 1 ? 'node' : 'nodes'} ${some([...new Set(nodes)])}` : undefined,
      namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : undefined,
    ].filter((w): w is string => w !== undefined)
    const parts = [
      critical.length > 0 ? `Critical: ${some(critical.map(healthFinding), 3, '; ')}.` : undefined,
      warning.length > 0 ? `Warning: ${some(warning.map(healthFinding), 3, '; ')}.` : undefined,
      skipped.length > 0 ? `Skipped: ${some(skipped, 3, '; ')}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    const hintsCritical = healthHints(critical, 2)
    const hintsWarning = healthHints(warning, 2)
    return {
      severity: status === 'critical' ? 'critical' : status === 'degraded' ? 'warning' : 'info',
      title: status === 'critical' ? `Cluster health CRITICAL: ${plural(criticalCount, 'critical finding')}${warningCount > 0 ? `, ${plural(warningCount, 'warning')}` : ''}`
        : status === 'degraded' ? `Cluster health degraded: ${plural(warningCount, 'warning')}`
          : `Cluster health OK: ${checks.length > 0 ? `${plural(checks.length, 'check')} passed` : 'no findings'}`,
      what: status === 'healthy' && findings.length === 0
        ? `Every check passed${checks.length > 0 ? ` (${checks.join(', ')})` : ''}.${skipped.length > 0 ? ` Skipped: ${some(skipped, 3, '; ')}.` : ''}`
        : parts.join(' ') || 'The report counts findings but lists none.',
      where: where.length > 0 ? where.join('; ') : `the cluster${checks.length > 0 ? ` (checks: ${checks.join(', ')})` : ''}`,
      action: status === 'critical'
        ? `Act now on the critical ones${hintsCritical.length > 0 ? `: ${hintsCritical.join('; ')}` : ''}.${warningCount > 0 ? ' Then the warnings, today.' : ''}`
        : status === 'degraded'
          ? `Look at the warnings today${hintsWarning.length > 0 ? `: ${hintsWarning.join('; ')}` : ''}.`
          : skipped.length > 0 ? 'Nothing to do, but the skipped checks were not looked at: configure them if they should be.' : 'Nothing to do.',
      facts: facts([
        ['Critical', criticalCount],
        ['Warning', warningCount],
        ['By check', byCheck.join(', ')],
        ['Checks', checks.join(', ')],
        ['Skipped', some(skipped, 3, '; ')],
        ['Objects read', scanned.join(', ')],
        ['Checked', stamp(d.checkedAt)],
      ]),
    }
  },
}

// --- updates --------------------------------------------------------------

/** `production/podinfo 5.2.1 → 6.7.1`. */
function releaseUpdate(r: Data): string {
  const name = [str(r.namespace), str(r.release)].filter(Boolean).join('/') || 'a release'
  const latest = str(rec(r.latest).version)
  return `${name} ${str(r.version) ?? '?'}${latest ? ` → ${latest}` : ''}`
}

const updateTemplates: Record<string, Template> = {
  'dev.caretaker.updates.reported': (_input, d) => {
    const releases = recs(d.objects)
    const counts = rec(d.counts)
    const count = (status: string) => num(counts[status]) ?? releases.filter((r) => r.status === status).length
    const major = releases.filter((r) => r.status === 'major-update')
    const minor = releases.filter((r) => r.status === 'update-available')
    const unknown = releases.filter((r) => r.status === 'unknown')
    const deprecated = releases.filter((r) => r.deprecated === true)
    const k8s = rec(d.kubernetes)
    const k8sBehind = k8s.status === 'update-available' || k8s.status === 'major-update'
    const updates = count('major-update') + count('update-available')
    const namespaces = strs(d.namespaces)
    const parts = [
      major.length > 0 ? `Major updates: ${some(major.map(releaseUpdate), 3, '; ')}.` : undefined,
      minor.length > 0 ? `Updates: ${some(minor.map(releaseUpdate), 3, '; ')}.` : undefined,
      deprecated.length > 0 ? `Deprecated charts: ${some(deprecated.map((r) => `${str(r.chart) ?? '?'} (${str(r.release) ?? '?'})`), 3, '; ')}.` : undefined,
      unknown.length > 0 ? `Not checked: ${some(unknown.map((r) => `${str(r.release) ?? '?'} (${clip(str(r.reason) ?? 'unknown', 60)})`), 3, '; ')}.` : undefined,
      str(k8s.version) ? `Kubernetes ${str(k8s.version)!}${str(k8s.latest) ? `, ${str(k8s.channel) ?? 'channel'} latest ${str(k8s.latest)!}` : ''}${str(k8s.reason) ? ` (${clip(str(k8s.reason)!, 80)})` : ''}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    const title = updates === 0 && !k8sBehind
      ? `Everything up to date${count('unknown') > 0 ? `, ${plural(count('unknown'), 'release')} not checked` : ''}`
      : `Updates available: ${[updates > 0 ? plural(updates, 'Helm release') : undefined, k8sBehind ? `Kubernetes ${str(k8s.latest) ?? ''}`.trim() : undefined].filter(Boolean).join(' and ')}`
    return {
      severity: major.length > 0 || deprecated.length > 0 || count('unknown') > 0 ? 'warning' : 'info',
      title,
      what: parts.join(' ') || 'No Helm release was found in the checked namespaces.',
      where: namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'the cluster',
      action: [
        updates > 0 || k8sBehind ? 'Plan the upgrades: read each chart\'s release notes (a major update may break its values), upgrade in a maintenance window, one at a time. Nothing was upgraded.' : 'Nothing to upgrade.',
        deprecated.length > 0 ? 'Find a replacement for the deprecated charts.' : undefined,
        count('unknown') > 0 ? 'Map the unchecked releases to a repository (config.charts) or fix the repository that could not be read.' : undefined,
      ].filter(Boolean).join(' '),
      facts: facts([
        ['Major updates', count('major-update')],
        ['Updates', count('update-available')],
        ['Current', count('current')],
        ['Not checked', count('unknown')],
        ['Deprecated', num(d.deprecated) ?? deprecated.length],
        ['Kubernetes', str(k8s.version) ? `${str(k8s.version)!} (${str(k8s.status) ?? 'unknown'})` : undefined],
        ['Checked', stamp(d.checkedAt)],
      ]),
    }
  },
}

// --- database -------------------------------------------------------------

const KIND_NAMES: Record<string, string> = { postgres: 'PostgreSQL', redis: 'Redis' }

function dbKind(v: unknown): string | undefined {
  const k = str(v)
  return k ? KIND_NAMES[k] ?? k : undefined
}

function severityRank(v: unknown): number {
  return ['ok', 'info', 'warning', 'critical'].indexOf(str(v) ?? '')
}

/** The first thing to do about a database finding, by check. */
const DATABASE_HINTS: Record<string, (f: Data, target: string) => string> = {
  connect: (_f, target) => `check that ${target} is up and reachable from caretaker (host, port, NetworkPolicy) and that its credentials are right`,
  credentials: (_f, target) => `check the Vault path of ${target}'s credentials and the function's Vault policy`,
  'replication-lag': () => 'check the replica: its network to the primary, its disk and its load',
  replication: () => 'check the replica\'s link to its primary (`INFO replication`) and the primary\'s reachability',
  'idle-in-transaction': (f) => {
    const e = rec(f.evidence)
    const pid = num(e.pid)
    return `find the application holding a transaction open${str(e.application) ? ` (${str(e.application)!})` : ''} and fix it${pid !== undefined ? `; \`SELECT pg_terminate_backend(${pid})\` ends it now` : ''}`
  },
  'by-state': () => 'look for a connection pool that grew or leaks before raising max_connections',
  'slowest-statements': () => 'review the slowest statements with the team that owns them (indexes, query plans)',
  'dead-tuples': (f) => {
    const e = rec(f.evidence)
    const table = [str(e.database), str(e.table)].filter(Boolean).join('.')
    return `check autovacuum on ${table || 'the table'}; the weekly VACUUM (ANALYZE) reclaims the space`
  },
  duplicate: () => 'drop one of the duplicate indexes, after checking that no constraint uses it',
  fragmentation: () => 'the monthly MEMORY PURGE (jemalloc) or a restart of the node frees the fragmented memory',
  'last-save': () => 'the last background save failed: check the node\'s disk space and its log; a restart now would lose the data since the last good save',
  saved: () => 'the background save did not succeed: check the node\'s disk space and its log',
  'lock-unavailable': (f) => `${str(rec(f.evidence).table) ?? 'a table'} was skipped because another session held its lock: nothing to fix unless it repeats; it runs again at the next schedule`,
  'maintenance-failed': () => 'read the error in the finding and fix it, then request the task again (dev.caretaker.database.maintenance.requested)',
  'task-failed': () => 'read the error in the finding and fix it, then request the task again (dev.caretaker.database.maintenance.requested)',
  work_mem: () => 'lower work_mem or max_connections so that a busy server cannot run out of memory',
}

function databaseHints(findings: readonly Data[], target: string, max: number): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const f of findings) {
    const check = str(f.check) ?? ''
    const hint = DATABASE_HINTS[check] ?? (str(f.task) === 'settings' ? () => 'review the server settings against its memory (the finding gives the advice)' : undefined)
    if (!hint || seen.has(check)) continue
    seen.add(check)
    out.push(hint(f, target))
    if (out.length >= max) break
  }
  return out
}

/** Findings at warning and above, the most severe first. */
function problems(findings: readonly Data[]): Data[] {
  return findings.filter((f) => severityRank(f.severity) >= 2).sort((a, b) => severityRank(b.severity) - severityRank(a.severity))
}

function problemCounts(findings: readonly Data[]): string {
  const critical = findings.filter((f) => f.severity === 'critical').length
  const warning = findings.filter((f) => f.severity === 'warning').length
  return [critical > 0 ? `${critical} critical` : undefined, warning > 0 ? plural(warning, 'warning') : undefined].filter(Boolean).join(', ')
}

const databaseTemplates: Record<string, Template> = {
  'dev.caretaker.database.reported': (_input, d) => {
    const target = str(d.target) ?? 'unknown target'
    const kind = dbKind(d.kind)
    const findings = recs(d.findings)
    const bad = problems(findings)
    const actions = recs(d.actions)
    const outcomes = [...tally(actions, 'outcome')].map(([o, n]) => `${n} ${o}`)
    const failedActions = actions.filter((a) => a.outcome === 'failed').map((a) => `${str(a.action) ?? '?'} ${str(a.target) ?? ''}`.trim())
    const tasks = strs(d.tasks)
    const status = severityRank(d.status) >= 0 ? str(d.status)! : bad.some((f) => f.severity === 'critical') ? 'critical' : bad.length > 0 ? 'warning' : 'ok'
    const severity: Severity = status === 'critical' ? 'critical' : status === 'warning' ? 'warning' : 'info'
    const hints = databaseHints(bad, target, 2)
    const label = `${target}${kind ? ` (${kind})` : ''}`
    return {
      severity,
      title: `Database report: ${label}: ${bad.length > 0 ? problemCounts(bad) : severity === 'info' ? 'OK' : status}`,
      what: bad.length > 0
        ? `${sentence(some(bad.map((f) => clip(str(f.message) ?? str(f.check) ?? 'finding', 140)), 2, '; '))}`
        : `${tasks.length > 0 ? `${plural(tasks.length, 'task')} ran (${some(tasks, 4)})` : 'The maintenance ran'}: ${plural(findings.length, 'finding')}, none at warning or above${actions.length > 0 ? `; actions: ${outcomes.join(', ')}` : ''}.`,
      where: `${kind ?? 'database'} target ${target}`,
      action: bad.length > 0
        ? `${severity === 'critical' ? 'Act now.' : 'Look at it today.'} ${hints.length > 0 ? hints.map((h) => sentence(capitalised(h))).join(' ') : 'Each finding\'s message and evidence are in the report.'}`
        : d.dryRun === true && actions.length > 0 ? 'Nothing was changed; the planned actions run without dry-run.' : 'Nothing to do.',
      facts: facts([
        ['Findings', findings.length > 0 ? `${findings.length}${bad.length > 0 ? ` (${problemCounts(bad)})` : ''}` : undefined],
        ['Checks', some([...new Set(bad.map((f) => str(f.check)).filter((c): c is string => c !== undefined))], 4)],
        ['Actions', outcomes.join(', ')],
        ['Failed actions', some(failedActions, 2)],
        ['Tasks', some(tasks, 6)],
        ['Took', took(d.durationMs)],
      ]),
    }
  },
  'dev.caretaker.database.maintenance.completed': (input, d) => {
    const schedule = str(d.schedule) ?? str(input.subject) ?? 'scheduled'
    const targets = recs(d.targets).sort((a, b) => severityRank(b.status) - severityRank(a.status))
    const critical = targets.filter((t) => t.status === 'critical')
    const warning = targets.filter((t) => t.status === 'warning')
    const status = severityRank(d.status) >= 0 ? str(d.status)! : critical.length > 0 ? 'critical' : warning.length > 0 ? 'warning' : 'ok'
    const severity: Severity = status === 'critical' ? 'critical' : status === 'warning' ? 'warning' : 'info'
    const actions = targets.reduce((sum, t) => sum + (num(t.actions) ?? 0), 0)
    const row = (t: Data) => {
      const n = num(t.findings)
      return `${str(t.target) ?? '?'}${dbKind(t.kind) ? ` (${dbKind(t.kind)!})` : ''} ${str(t.status) ?? '?'}${n !== undefined && n > 0 ? `, ${plural(n, 'finding')} at warning or above` : ''}`
    }
    const worst = targets[0]
    return {
      severity,
      title: severity === 'info'
        ? `${capitalised(schedule)} database maintenance: ${targets.length === 1 ? 'the target' : `all ${targets.length} targets`} OK`
        : `${capitalised(schedule)} database maintenance: ${[critical.length > 0 ? `${critical.length} critical` : undefined, warning.length > 0 ? `${warning.length} warning` : undefined].filter(Boolean).join(', ') || status} of ${plural(targets.length, 'target')}`,
      what: targets.length > 0 ? `${sentence(some(targets.map(row), 4, '; '))}` : 'No database target is configured.',
      where: `every configured database target (${targets.length})`,
      action: severity !== 'info' && worst
        ? `Start with ${str(worst.target) ?? 'the worst target'} (${str(worst.status) ?? status}): its database.degraded message lists the findings and what to do.`
        : d.dryRun === true && actions > 0 ? 'Nothing was changed; the planned actions run without dry-run.' : 'Nothing to do.',
      facts: facts([['Schedule', schedule], ['Targets', targets.length], ['Critical', critical.length], ['Warning', warning.length], ['Actions', actions]]),
    }
  },
  'dev.caretaker.database.degraded': (_input, d) => {
    const target = str(d.target) ?? 'unknown target'
    const bad = problems(recs(d.findings))
    const critical = d.status === 'critical' || bad.some((f) => f.severity === 'critical')
    const hints = databaseHints(bad, target, 2)
    const checks = [...new Set(bad.map((f) => str(f.check)).filter((c): c is string => c !== undefined))]
    return {
      severity: critical ? 'critical' : 'warning',
      title: `Database ${critical ? 'CRITICAL' : 'degraded'}: ${target}${bad.length > 0 ? ` (${problemCounts(bad)})` : ''}`,
      what: bad.length > 0
        ? sentence(some(bad.map((f) => clip(str(f.message) ?? str(f.check) ?? 'finding', 140)), 2, '; '))
        : `The maintenance of ${target} reported findings at ${str(d.status) ?? 'warning'} or above.`,
      where: `database target ${target}`,
      action: `${critical ? 'Act now.' : 'Look at it today.'} ${hints.length > 0 ? hints.map((h) => sentence(capitalised(h))).join(' ') : 'The target\'s report (dev.caretaker.database.reported) has each finding with its evidence.'}`,
      facts: facts([['Findings', bad.length > 0 ? `${bad.length} (${problemCounts(bad)})` : undefined], ['Checks', some(checks, 4)]]),
    }
  },
}

// --- snapshots and resources ----------------------------------------------

/** `2 Jobs, 1 ReplicaSet`. */
function kinds(items: readonly Data[]): string {
  return [...tally(items, 'kind')].map(([k, n]) => plural(n, k === 'PersistentVolumeClaim' ? 'PVC' : k)).join(', ')
}

/** `production/api-7d9 (reason)`. */
function objectWithReason(o: Data): string {
  const reasons = strs(o.reasons)
  return `${nsName(o) ?? '?'}${reasons.length > 0 ? ` (${clip(reasons.at(-1)!, 140)})` : ''}`
}

const cleanupTemplates: Record<string, Template> = {
  'dev.caretaker.snapshots.pruned': (_input, d) => {
    const policies = recs(d.policies)
    const dryRun = d.dryRun === true
    const sum = (field: string) => policies.reduce((s, p) => s + (num(p[field]) ?? 0), 0)
    const objects = policies.flatMap((p) => recs(p.objects))
    const failedObjects = objects.filter((o) => o.action === 'failed')
    const deleted = sum('deleted')
    const kept = sum('kept')
    const failed = sum('failed')
    const deferred = sum('deferred')
    const names = policies.map((p) => str(p.policy) ?? '?')
    const row = (p: Data) => `${str(p.policy) ?? '?'}${str(p.kind) ? ` (${str(p.kind)!})` : ''}: ${num(p.deleted) ?? 0} ${dryRun ? 'to delete' : 'deleted'} of ${num(p.listed) ?? 0}${(num(p.failed) ?? 0) > 0 ? `, ${num(p.failed)!} failed` : ''}${(num(p.deferred) ?? 0) > 0 ? `, ${num(p.deferred)!} deferred` : ''}`
    return {
      severity: failed > 0 ? 'warning' : 'info',
      title: policies.length === 0 ? 'Snapshots: no retention policy applied'
        : `Snapshots ${dryRun ? 'prune planned' : 'pruned'}: ${deleted} ${dryRun ? 'would be deleted' : 'deleted'}, ${kept} kept${failed > 0 ? `, ${failed} FAILED` : ''}${deferred > 0 ? `, ${deferred} deferred` : ''}`,
      what: policies.length > 0
        ? `${sentence(some(policies.map(row), 3, '; '))}${failedObjects.length > 0 ? ` Failed: ${some(failedObjects.map(objectWithReason), 2, '; ')}.` : ''}`
        : 'No retention policy was applied.',
      where: policies.length > 0 ? `retention ${policies.length === 1 ? 'policy' : 'policies'} ${some(names, 4)}` : 'the configured retention policies',
      action: failed > 0
        ? `Look at the failed deletions (a finalizer, the snapshot still in use, or RBAC); they are tried again at the next run.${d.capReached === true ? ' The per-run cap deferred the rest to the next run.' : ''}`
        : dryRun ? (deleted > 0 ? 'Nothing was deleted. Check the would-delete list in the event; when it is right, turn dry-run off for prune-snapshots.' : 'Nothing was deleted, and nothing would be.')
          : d.capReached === true ? `The per-run cap deferred ${plural(deferred, 'deletion')} to the next run; if this repeats, raise maxDeletionsPerRun.`
            : 'Nothing to do.',
      facts: facts([
        ['Policies', names.length > 0 ? some(names, 4) : undefined],
        ['Listed', sum('listed')],
        [dryRun ? 'Would delete' : 'Deleted', deleted],
        ['Kept', kept],
        ['Failed', failed > 0 ? failed : undefined],
        ['Deferred', deferred > 0 ? deferred : undefined],
      ]),
    }
  },
  'dev.caretaker.resources.cleaned': (_input, d) => {
    const objects = recs(d.objects)
    const dryRun = d.dryRun === true
    const counts = rec(d.counts)
    const of = (action: string) => objects.filter((o) => o.action === action)
    const count = (action: string) => num(counts[action]) ?? of(action).length
    const removed = of(dryRun ? 'would-delete' : 'deleted')
    const removedCount = count(dryRun ? 'would-delete' : 'deleted')
    const reported = of('reported')
    const failed = of('failed')
    const kept = count('keep')
    const deferred = count('deferred')
    const namespaces = [...new Set(objects.map((o) => str(o.namespace)).filter((n): n is string => n !== undefined))].sort()
    const parts = [
      removedCount > 0 ? `${dryRun ? 'Would delete' : 'Deleted'} ${kinds(removed) || removedCount}${removed.length > 0 ? `: ${some(removed.map((o) => nsName(o) ?? '?'), 3)}` : ''}.` : `Nothing ${dryRun ? 'would be' : 'was'} deleted.`,
      failed.length > 0 ? `Failed: ${some(failed.map(objectWithReason), 2, '; ')}.` : undefined,
      count('reported') > 0 ? `Unused PVCs, not deleted: ${reported.length > 0 ? some(reported.map((o) => nsName(o) ?? '?'), 3) : count('reported')}.` : undefined,
      kept > 0 ? `Kept ${kept}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    return {
      severity: failed.length > 0 || count('failed') > 0 ? 'warning' : 'info',
      title: `Clean-up${dryRun ? ' planned' : ''}: ${removedCount > 0 ? `${removedCount} ${dryRun ? 'to delete' : 'deleted'}${removed.length > 0 ? ` (${kinds(removed)})` : ''}` : 'nothing to delete'}${count('failed') > 0 ? `, ${count('failed')} FAILED` : ''}${count('reported') > 0 ? `, ${plural(count('reported'), 'unused PVC')} reported` : ''}`,
      what: parts.join(' '),
      where: namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'the configured namespaces',
      action: count('failed') > 0
        ? 'Look at the failed deletions (RBAC, a finalizer); they are tried again at the next run.'
        : count('reported') > 0
          ? 'Decide on the unused PVCs: delete them by hand if their data is not needed (`kubectl delete pvc -n <namespace> <name>`), or protect them with the protection label.'
          : dryRun && removedCount > 0 ? 'Nothing was deleted. Check the list in the event; when it is right, turn dry-run off for clean-up-resources.'
            : d.capReached === true ? `The per-run cap deferred ${plural(deferred, 'deletion')} to the next run; if this repeats, raise maxDeletionsPerRun.`
              : 'Nothing to do.',
      facts: facts([
        [dryRun ? 'Would delete' : 'Deleted', removedCount],
        ['Kept', kept],
        ['Unused PVCs', count('reported') > 0 ? count('reported') : undefined],
        ['Failed', count('failed') > 0 ? count('failed') : undefined],
        ['Deferred', deferred > 0 ? deferred : undefined],
        ['Namespaces', some(namespaces, 5)],
      ]),
    }
  },
}

// --- alert ----------------------------------------------------------------

function labelsWhere(labels: unknown): string | undefined {
  const l = rec(labels)
  const parts = ['namespace', 'pod', 'deployment', 'statefulset', 'node', 'service', 'instance'].filter((k) => typeof l[k] === 'string').map((k) => `${k} ${String(l[k])}`)
  return parts.length > 0 ? parts.join(', ') : undefined
}

/** respond-to-alert's target key, `production/deletePod:api-7d9,notify`, as a person reads it: `production/api-7d9`. */
function alertTarget(d: Data): string | undefined {
  const fromActions = [...new Set(recs(d.actions).map((a) => str(a.target)).filter((t): t is string => t !== undefined))]
  if (fromActions.length > 0) return some(fromActions, 3)
  const raw = str(d.target)
  if (!raw) return undefined
  const slash = raw.indexOf('/')
  if (slash < 0) return raw
  const ns = raw.slice(0, slash)
  const names = raw.slice(slash + 1).split(',').filter((p) => p.includes(':')).map((p) => p.slice(p.indexOf(':') + 1)).filter((n) => n.length > 0)
  return names.length > 0 ? some([...new Set(names)].map((n) => `${ns}/${n}`), 3) : `namespace ${ns}`
}

/** Why respond-to-alert skipped an alert, as a short word and what to do. */
function skipKind(reason: string): { short: string; severity: Severity; action: (target: string) => string } {
  if (/^no rule/.test(reason)) return { short: 'no rule', severity: 'info', action: () => 'Nothing was done automatically: handle the alert as usual; if it should get an automatic response, add a rule to respond-to-alert\'s config.' }
  if (/^unconfirmed/.test(reason)) return { short: 'not confirmed by Alertmanager', severity: 'warning', action: () => 'Alertmanager does not have this alert in that state: an event sent by something other than Alertmanager, or a stale one. If it was not Alertmanager\'s, find who can send events to the Broker.' }
  if (/^duplicate/.test(reason)) return { short: 'duplicate', severity: 'info', action: () => 'Nothing to do: the same alert was handled already.' }
  if (/^cooldown/.test(reason)) return { short: 'cooldown', severity: 'warning', action: (target) => `The rule acted on ${target} recently and the alert fired again, so the automatic fix is not enough: look at ${target} by hand.` }
  if (/^cap reached/.test(reason)) return { short: 'action cap reached', severity: 'warning', action: () => 'An alert storm: respond-to-alert stops acting until its window passes. Look at what is firing in Alertmanager and act by hand.' }
  if (/allowed namespaces/.test(reason)) return { short: 'namespace not allowed', severity: 'warning', action: () => 'Act on the alert by hand. If the rule should act there, add the namespace to its allowedNamespaces (and RBAC); otherwise fix its namespace template.' }
  return { short: 'rule could not act', severity: 'warning', action: () => 'Act on the alert by hand, and fix the rule (its templates name labels the alert may lack).' }
}

const alertTemplates: Record<string, Template> = {
  'dev.caretaker.alert.notification': (_input, d) => {
    const alertname = str(d.alertname) ?? 'unnamed alert'
    const message = str(d.message) ?? `alert ${alertname}`
    return {
      severity: severityWord(d.severity) ?? 'warning',
      title: `Alert ${alertname}: ${clip(message, 100)}`,
      what: message,
      where: labelsWhere(d.labels) ?? 'see the alert',
      action: str(d.rule) ? `Rule ${String(d.rule)} asks a person to look at this alert.` : 'A person should look at this alert.',
      facts: facts([['Alert', str(d.alertname)], ['Severity', str(d.severity)], ['Rule', str(d.rule)]]),
    }
  },
  'dev.caretaker.alert.remediated': (_input, d) => {
    const alertname = str(d.alertname) ?? 'unnamed alert'
    const rule = str(d.rule)
    const target = alertTarget(d)
    const reason = str(d.reason) ?? ''
    const actions = recs(d.actions)
    const messages = actions
      .map((a) => (a.action === 'notify' && a.dryRun !== true && str(a.message) ? `notified people ("${clip(str(a.message)!, 80)}")` : str(a.message) ?? str(a.action)))
      .filter((m): m is string => m !== undefined)
    const dryRun = d.dryRun === true
    const notDone = actions.filter((a) => a.done !== true && a.dryRun !== true)
    const silence = str(d.silenceId)
    const common = facts([['Alert', alertname], ['Rule', rule], ['Target', target], ['Silence', silence], ['Fingerprint', str(d.fingerprint)]])
    if (/^resolved/.test(reason)) {
      return {
        severity: 'info',
        title: `Alert resolved: ${alertname}${rule ? ` (rule ${rule})` : ''}`,
        what: `${alertname} resolved${silence ? `; its silence ${silence} was expired` : ''}${dryRun ? '; dry-run: the silence is left as it is' : ''}.`,
        where: target ?? `alert ${alertname}`,
        action: 'Nothing to do.',
        facts: common,
      }
    }
    return {
      severity: notDone.length > 0 ? 'warning' : 'info',
      title: `Alert ${dryRun ? 'remediation planned' : 'remediated'}: ${alertname}${messages[0] ? ` → ${clip(messages[0], 90)}${messages.length > 1 ? ` (+${messages.length - 1} more)` : ''}` : ''}`,
      what: `${rule ? `Rule ${rule}` : 'A rule'} ${dryRun ? 'would act' : 'acted'} on ${alertname}${messages.length > 0 ? `: ${some(messages, 3, '; ')}` : ''}${silence ? `; the alert is silenced while it runs (${silence})` : ''}.`,
      where: target ?? `alert ${alertname}`,
      action: dryRun ? 'Nothing was changed. When the plan is right, turn dry-run off for respond-to-alert.'
        : notDone.length > 0 ? `Not everything could be done (${clip(str(notDone[0]!.message) ?? str(notDone[0]!.action) ?? 'an action', 120)}): look at ${target ?? 'the target'} by hand.`
          : `Check that the alert resolves; if it fires again after the cooldown, the cause is not fixed: look at ${target ?? 'the target'}.`,
      facts: [...facts([['Actions', actions.length === 0 ? undefined : dryRun ? `${actions.length} planned` : `${actions.filter((a) => a.done === true).length} of ${actions.length} done`]]), ...common].slice(0, MAX_FACTS),
    }
  },
  'dev.caretaker.alert.failed': (_input, d) => {
    const alertname = str(d.alertname) ?? 'unnamed alert'
    const rule = str(d.rule)
    const target = alertTarget(d)
    const done = recs(d.actions).filter((a) => a.done === true).map((a) => str(a.message) ?? str(a.action)).filter((m): m is string => m !== undefined)
    const attempts = typeof d.attempts === 'number' ? d.attempts : undefined
    return {
      severity: 'critical',
      title: `Alert remediation failed: ${alertname}${rule ? ` (rule ${rule})` : ''}`,
      what: `respond-to-alert could not remediate ${alertname}: ${sentence(clip(str(d.reason) ?? 'no reason given', 240))}${done.length > 0 ? ` Done before the failure: ${some(done, 3, '; ')}.` : ''}`,
      where: target ?? `alert ${alertname}`,
      action: `Nothing automatic will act on it again until Alertmanager re-sends the alert: remediate ${target ?? 'the target'} by hand, and fix what made the action fail (the error says what: permissions, the API, the target).`,
      facts: facts([['Alert', alertname], ['Rule', rule], ['Target', target], ['Error', str(d.error)], ['Attempts', attempts], ['Fingerprint', str(d.fingerprint)]]),
    }
  },
  'dev.caretaker.alert.skipped': (_input, d) => {
    const alertname = str(d.alertname) ?? 'unnamed alert'
    const raw = str(d.reason) ?? 'no reason given'
    const target = alertTarget(d)
    const key = str(d.target)
    const reason = key && target ? raw.replaceAll(key, target) : raw
    const kind = skipKind(raw)
    return {
      severity: kind.severity,
      title: `Alert not acted on: ${alertname} (${kind.short})`,
      what: `respond-to-alert did not act on ${alertname}: ${sentence(clip(reason, 240))}`,
      where: target ?? `alert ${alertname}`,
      action: kind.action(target ?? 'the alert\'s target'),
      facts: facts([['Alert', alertname], ['Rule', str(d.rule)], ['Target', target], ['Fingerprint', str(d.fingerprint)]]),
    }
  },
}

/** respond-to-alert's manual restarts: `<Kind> <namespace>/<name>`. */
function workloadName(d: Data): string {
  const target = str(d.target) ?? [str(d.namespace), str(d.name)].filter(Boolean).join('/')
  return `${str(d.kind) ?? 'workload'} ${target || 'unnamed'}`
}

function rolloutFacts(d: Data): Fact[] {
  const yes = (v: unknown, word: string, not: string) => (v === true ? word : v === false ? not : undefined)
  return facts([['Workload', workloadName(d)], ['Requested by', str(d.requestedBy)], ['Reason', str(d.reason)], ['Rollout', str(d.rollout)],
    ['Rolled out', yes(d.rolled, 'yes', 'no')], ['Health', str(d.healthStatus) ? `${yes(d.healthy, 'healthy', 'not healthy') ?? ''} (${str(d.healthStatus)})`.trim() : undefined],
    ['Error', str(d.error)], ['Attempts', num(d.attempts)]])
}

const workloadTemplates: Record<string, Template> = {
  'dev.caretaker.workload.restarted': (_input, d) => {
    const what = workloadName(d)
    const dryRun = d.dryRun === true
    const message = str(d.message) ?? `restarted ${what}`
    if (dryRun) {
      return {
        severity: 'info',
        title: `Restart planned (dry-run): ${what}`,
        what: `${sentence(clip(message, 300))}`,
        where: what,
        action: 'Nothing was restarted. Send the request again with dryrun=false to restart it.',
        facts: rolloutFacts(d),
      }
    }
    const waited = typeof d.rolled === 'boolean'
    return {
      severity: 'info',
      title: `Restarted on request: ${what}${d.rolled === true ? ' (rolled out' : ''}${d.healthy === true ? ', healthy)' : d.rolled === true ? ')' : ''}`,
      what: `${sentence(clip(message, 300))}${str(d.reason) ? ` Reason given: ${sentence(clip(str(d.reason)!, 200))}` : ''}`,
      where: what,
      action: waited ? 'Nothing to do.' : `The rollout was not waited for: check it with kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout status ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}.`,
      facts: rolloutFacts(d),
    }
  },
  'dev.caretaker.workload.restart.failed': (_input, d) => {
    const what = workloadName(d)
    const rolled = d.rolled === true
    const cause = rolled ? 'it rolled out, but its health check did not answer 2xx' : typeof d.rolled === 'boolean' ? 'its rollout did not finish' : 'the restart could not be done'
    const attempts = num(d.attempts)
    return {
      severity: 'critical',
      title: `Requested restart failed: ${what} (${cause})`,
      what: `respond-to-alert could not restart ${what}${attempts ? ` after ${plural(attempts, 'attempt')}` : ''}: ${sentence(clip(str(d.message) ?? 'no reason given', 300))}`,
      where: what,
      action: rolled
        ? `The new pods run but the service is not healthy: look at their logs and the health endpoint, and roll back (kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout undo ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}) if the new pods are the cause.`
        : `Look at the rollout (kubectl -n ${str(d.namespace) ?? '<namespace>'} rollout status ${(str(d.kind) ?? 'deployment').toLowerCase()}/${str(d.name) ?? '<name>'}) and its pods' events; fix what keeps them from becoming ready, or what the error says (permissions, the API).`,
      facts: rolloutFacts(d),
    }
  },
}

// --- configuration --------------------------------------------------------

const CONFIGURATION_PART_NAMES: Record<string, [string, string]> = {
  dashboards: ['dashboard', 'dashboards'], 'alert-rules': ['alert rule', 'alert rules'], 'contact-points': ['contact point', 'contact points'],
  policies: ['policy tree', 'policy trees'], prometheusrules: ['PrometheusRule', 'PrometheusRules'], configmaps: ['ConfigMap', 'ConfigMaps'],
}

const configurationTemplates: Record<string, Template> = {
  'dev.caretaker.configuration.backed-up': (_input, d) => {
    const archive = rec(d.archive)
    const retention = rec(d.retention)
    const name = str(archive.name) ?? 'the configuration archive'
    const counted = Object.entries(rec(d.counts)).filter(([, n]) => num(n) !== undefined)
      .map(([part, n]) => { const [one, many] = CONFIGURATION_PART_NAMES[part] ?? [part, part]; return plural(num(n)!, one, many) })
    const deleted = strs(retention.deleted)
    const wouldDelete = strs(retention.wouldDelete)
    const reason = str(d.reason)
    return {
      severity: 'info',
      title: `Configuration backed up: ${name}`,
      what: `${counted.length > 0 ? `${and(counted)} written` : 'An archive written'}${reason ? ` (${clip(reason, 120)})` : ''}; its SHA256SUMS lists every file.`,
      where: str(archive.path) ?? name,
      action: wouldDelete.length > 0
        ? `Nothing to do for the backup. Dry-run: ${plural(wouldDelete.length, 'older archive')} beyond the ${num(retention.keep) ?? '?'} kept would be deleted (${some(wouldDelete, 2)}); run without dry-run to delete them.`
        : 'Nothing to do: verify-backup checks the archive in its configuration set.',
      facts: facts([
        ['Archive', name],
        ['Size', bytes(archive.size)],
        ['SHA-256', str(archive.sha256)],
        ['Files', num(archive.files)],
        ['Deleted', deleted.length > 0 ? some(deleted, 3) : undefined],
        ['Took', took(d.durationMs)],
      ]),
    }
  },
}

const templates: Record<string, Template> = {
  ...backupTemplates,
  ...secretTemplates,
  ...certificateTemplates,
  ...healthTemplates,
  ...databaseTemplates,
  ...cleanupTemplates,
  ...alertTemplates,
  ...workloadTemplates,
  ...updateTemplates,
  ...configurationTemplates,
}

function severityWord(v: unknown): Severity | undefined {
  if (typeof v !== 'string') return undefined
  const s = v.toLowerCase()
  if (['critical', 'error', 'page', 'fatal', 'failed', 'unhealthy', 'down'].includes(s)) return 'critical'
  if (['warning', 'warn', 'degraded', 'expiring'].includes(s)) return 'warning'
  if (['info', 'ok', 'none', 'healthy', 'success', 'succeeded', 'notice'].includes(s)) return 'info'
  return undefined
}

/** The severity of an event no template knows: the more urgent of what its data says and what its type says. */
export function inferSeverity(type: string, data: unknown): Severity {
  const d = data && typeof data === 'object' ? data as Record<string, unknown> : {}
  const fromData = severityWord(d.severity) ?? severityWord(d.status) ?? severityWord(d.overall)
    ?? (d.verified === false || d.ok === false ? 'critical' : undefined)
    ?? (typeof d.failed === 'number' && d.failed > 0 ? 'warning' : undefined)
    ?? 'info'
  const action = type.split('.').slice(3).join('.')
  const fromType: Severity = /(^|\.)(failed|failure|error)(\.|$)/.test(action) ? 'critical'
    : /(degraded|expiring|expired|skipped|warning|stale|unhealthy)/.test(action) ? 'warning'
      : 'info'
  return SEVERITY_ORDER.indexOf(fromData) >= SEVERITY_ORDER.indexOf(fromType) ? fromData : fromType
}

/** `dev.caretaker.snapshots.pruned` → `Snapshots pruned`. */
export function humanType(type: string): string {
  const parts = type.replace(/^dev\.caretaker\./, '').split('.')
  const text = parts.join(' ').replace(/[-_]/g, ' ')
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The catalogue's description up to its first `;` (the rest describes the data). */
function described(type: string): string | undefined {
  const d = eventTypeDefinition(type)?.description
  return d ? d.split(';')[0]!.trim() : undefined
}

/** Fields never shown, in case a type carries one: no value of a secret reaches a message. */
const SECRET_KEY = /(password|passwd|token|secret_?value|api_?key|private_?key|credential|^value)$/i

function scalarFacts(d: Record<string, unknown>): Fact[] {
  const out: Fact[] = []
  for (const [key, value] of Object.entries(d)) {
    if (out.length >= MAX_FACTS) break
    if (key === 'severity' || /url$/i.test(key) || SECRET_KEY.test(key)) continue
    const label = key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase())
    if (typeof value === 'string' && value.length > 0) out.push({ label, value: clip(value) })
    else if (typeof value === 'number' || typeof value === 'boolean') out.push({ label, value: String(value) })
    else if (Array.isArray(value)) out.push({ label, value: `${value.length} item${value.length === 1 ? '' : 's'}` })
  }
  return out
}

const GENERIC_ACTIONS: Record<Severity, string> = {
  critical: 'Act now: read the details and the function\'s log for this event, and follow its runbook.',
  warning: 'Look at this today: read the details and decide whether it needs a fix.',
  info: 'Nothing to do; for the record.',
}

const generic: Template = (input, d) => {
  const severity = inferSeverity(input.type, d)
  const message = str(d.message) ?? str(d.reason) ?? str(d.summary)
  return {
    severity,
    title: `${humanType(input.type)}${input.subject ? `: ${input.subject}` : ''}`,
    what: message ? clip(message, 300) : `${described(input.type) ?? humanType(input.type)}.`,
    where: input.subject ?? str(d.target) ?? str(d.namespace) ?? str(d.name) ?? 'the cluster',
    action: GENERIC_ACTIONS[severity],
    facts: scalarFacts(d),
  }
}

/** Links the event itself carries: top-level `…url` fields that are http(s). */
function dataLinks(d: Record<string, unknown>): Link[] {
  return Object.entries(d)
    .filter(([k, v]) => /url$/i.test(k) && typeof v === 'string' && /^https?:\/\//.test(v))
    .map(([k, v]) => ({ label: k.replace(/url$/i, '').replace(/([a-z])([A-Z])/g, '$1 $2') || 'link', url: v as string }))
}

/** The family of a type: `dev.caretaker.backup.verified` → `backup`. */
export function family(type: string): string {
  return type.replace(/^dev\.caretaker\./, '').split('.')[0] ?? type
}

export function hasSpecificTemplate(type: string): boolean {
  return Object.hasOwn(templates, type)
}

export function renderMessage(input: TemplateInput, configLinks: ReadonlyArray<{ label: string; url: string }> = []): Message {
  const d = input.data && typeof input.data === 'object' && !Array.isArray(input.data) ? input.data as Record<string, unknown> : {}
  const body = (templates[input.type] ?? generic)(input, d)
  const fill = (url: string) => url
    .replaceAll('{type}', encodeURIComponent(input.type))
    .replaceAll('{subject}', encodeURIComponent(input.subject ?? ''))
    .replaceAll('{family}', encodeURIComponent(family(input.type)))
  return {
    type: input.type,
    subject: input.subject,
    time: input.time,
    ...body,
    // An outcome its function only planned (its own dry-run) says so first thing.
    title: clip(d.dryRun === true ? `${body.title} (dry-run: nothing was changed)` : body.title, MAX_TITLE),
    links: [...(body.links ?? []), ...dataLinks(d), ...configLinks.map((l) => ({ label: l.label, url: fill(l.url) }))],
  }
}
