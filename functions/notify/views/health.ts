import { clip, facts, nsName, num, plural, rec, recs, some, stamp, str, strs, tally, written, type Data, type Template } from './read.ts'

// --- health ---------------------------------------------------------------

/** A cmctl command line for a Certificate: `cmctl status certificate -n production api-tls`. */
function cmctl(verb: 'status certificate', d: Data): string {
  const ns = str(d.namespace)
  return `\`cmctl ${verb}${ns ? ` -n ${ns}` : ''} ${str(d.name) ?? '<name>'}\``
}

export function objectName(o: Data): string {
  return [str(o.kind), nsName(o)].filter(Boolean).join(' ') || 'unknown object'
}

/** `Node worker-3 (KubeletNotReady)`, `Pod production/api-x (CrashLoopBackOff ×12)`. */
export function healthFinding(f: Data): string {
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
export function healthHints(findings: readonly Data[], max: number): string[] {
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
export function trendText(t: Data): string {
  const key = (str(t.key) ?? '?').replace(/^(check|reason):/, '')
  const max = num(t.max)
  const first = num(t.first) ?? 0
  const last = num(t.last) ?? 0
  return `${key} ${first} → ${last}${max !== undefined && max > Math.max(first, last) ? ` (max ${max})` : ''}`
}

/** A volume's fill growth: `production/data 60% → 79% (+19 pp/week, full in ~11 days)`. */
export function fillText(g: Data): string {
  const perWeek = num(g.perWeek) ?? 0
  const days = num(g.daysToFull)
  return `${str(g.volume) ?? '?'} ${String(num(g.first) ?? '?')}% → ${String(num(g.last) ?? '?')}% (${perWeek > 0 ? '+' : ''}${perWeek} pp/week${days !== undefined ? `, full in ~${plural(days, 'day')}` : ''})`
}

/** The digest's raw figures in a few sentences, and whether a volume fills up within the horizon. */
export function figuresText(figures: Data): { parts: string[]; filling: Data[] } {
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

export const healthViews = written(healthTemplates)
