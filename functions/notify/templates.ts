import { eventTypeDefinition } from '../../shared/events/catalogue.ts'
import { formatDuration } from '../../shared/duration.ts'
import { SEVERITIES as SEVERITY_ORDER, type Severity } from './config.ts'

/**
 * What a person reads: a title, what happened, where, what to do, a few facts
 * and links. One template per known type; every other type gets the generic
 * one, built from the catalogue's description and the event's data, so a type
 * added later still reads sensibly.
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

type Body = Omit<Message, 'type' | 'subject' | 'time' | 'links'> & { links?: Link[] }
type Template = (input: TemplateInput, data: Record<string, unknown>) => Body

const MAX_FACTS = 8
const MAX_VALUE = 160

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function clip(text: string, max = MAX_VALUE): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

function bytes(n: unknown): string | undefined {
  if (typeof n !== 'number') return undefined
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

function age(iso: unknown, now: string): string | undefined {
  if (typeof iso !== 'string') return undefined
  const ms = Date.parse(now) - Date.parse(iso)
  return Number.isFinite(ms) ? `${formatDuration(ms)} old` : undefined
}

function facts(pairs: Array<[string, string | undefined]>): Fact[] {
  return pairs.filter((p): p is [string, string] => p[1] !== undefined).map(([label, value]) => ({ label, value: clip(value) }))
}

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
}

const templates: Record<string, Template> = {
  'dev.caretaker.backup.verified': (input, d) => {
    const artifact = d.artifact as { name?: string; path?: string; size?: number; modified?: string } | undefined
    const checks = Array.isArray(d.checks) ? (d.checks as Array<{ check?: string }>).map((c) => c.check).filter(Boolean) : []
    return {
      severity: 'info',
      title: `Backup verified: ${String(d.set)}`,
      what: `The newest ${String(d.format ?? '')} backup${artifact?.name ? ` ${artifact.name}` : ''} passed every check (${checks.join(', ') || 'none'}).`,
      where: `backup set ${String(d.set)}${artifact?.path ? ` at ${artifact.path}` : ''}`,
      action: 'Nothing to do.',
      facts: facts([['Size', bytes(artifact?.size)], ['Age', age(artifact?.modified, input.time)], ['Took', typeof d.durationMs === 'number' ? formatDuration(d.durationMs) : undefined], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.backup.verification.failed': (input, d) => {
    const artifact = d.artifact as { name?: string; path?: string; size?: number; modified?: string } | undefined
    const failed = String(d.failedCheck ?? 'unknown')
    const checks = Array.isArray(d.checks) ? d.checks as Array<{ check?: string; ok?: boolean; message?: string }> : []
    const failing = checks.find((c) => c.check === failed && c.ok === false) ?? checks.at(-1)
    return {
      severity: 'critical',
      title: `Backup verification FAILED: ${String(d.set)} (${failed} check)`,
      what: failing?.message ? `The ${failed} check failed: ${clip(failing.message, 300)}` : `The ${failed} check failed.`,
      where: `backup set ${String(d.set)}${artifact?.path ? ` at ${artifact.path}` : ''}`,
      action: BACKUP_ACTIONS[failed] ?? 'Look at the set\'s report and the backup Job; until it passes, the last verified backup is the one to restore from.',
      facts: facts([['Format', str(d.format)], ['Artifact', artifact?.name], ['Size', bytes(artifact?.size)], ['Age', age(artifact?.modified, input.time)], ['Passed', checks.filter((c) => c.ok).map((c) => c.check).join(', ') || undefined], ['Trigger', str(d.trigger)]]),
    }
  },
  'dev.caretaker.backup.sweep.completed': (_input, d) => {
    const sets = Array.isArray(d.sets) ? d.sets as Array<{ set?: string; verified?: boolean; failedCheck?: string }> : []
    const failed = sets.filter((s) => !s.verified)
    const failedCount = typeof d.failed === 'number' ? d.failed : failed.length
    const verifiedCount = typeof d.verified === 'number' ? d.verified : sets.length - failed.length
    return {
      severity: failedCount > 0 ? 'critical' : 'info',
      title: failedCount > 0 ? `Backup sweep: ${failedCount} of ${verifiedCount + failedCount} sets FAILED` : `Backup sweep: all ${verifiedCount} sets verified`,
      what: failedCount > 0
        ? `Failed: ${failed.map((s) => `${s.set ?? '?'} (${s.failedCheck ?? 'failed'})`).join(', ')}. Verified: ${sets.filter((s) => s.verified).map((s) => s.set).join(', ') || 'none'}.`
        : `Every configured backup set passed: ${sets.map((s) => s.set).join(', ') || 'none configured'}.`,
      where: 'every configured backup set',
      action: failedCount > 0 ? 'Each failed set has its own message saying what to do; fix those today.' : 'Nothing to do.',
      facts: facts([['Verified', String(verifiedCount)], ['Failed', String(failedCount)]]),
    }
  },
  'dev.caretaker.alert.notification': (_input, d) => ({
    severity: severityWord(d.severity) ?? 'warning',
    title: `Alert ${String(d.alertname)}: ${clip(String(d.message), 100)}`,
    what: String(d.message),
    where: labelsWhere(d.labels) ?? 'see the alert',
    action: str(d.rule) ? `Rule ${String(d.rule)} asks a person to look at this alert.` : 'A person should look at this alert.',
    facts: facts([['Alert', str(d.alertname)], ['Severity', str(d.severity)], ['Rule', str(d.rule)]]),
  }),
}

function labelsWhere(labels: unknown): string | undefined {
  if (!labels || typeof labels !== 'object') return undefined
  const l = labels as Record<string, unknown>
  const parts = ['namespace', 'pod', 'deployment', 'statefulset', 'node', 'service', 'instance'].filter((k) => typeof l[k] === 'string').map((k) => `${k} ${String(l[k])}`)
  return parts.length > 0 ? parts.join(', ') : undefined
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

function scalarFacts(d: Record<string, unknown>): Fact[] {
  const out: Fact[] = []
  for (const [key, value] of Object.entries(d)) {
    if (out.length >= MAX_FACTS) break
    if (key === 'severity' || /url$/i.test(key)) continue
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
    title: d.dryRun === true ? `${body.title} (dry-run: nothing was changed)` : body.title,
    links: [...(body.links ?? []), ...dataLinks(d), ...configLinks.map((l) => ({ label: l.label, url: fill(l.url) }))],
  }
}
