import type { Severity } from '../config.ts'
import { clip, facts, MAX_FACTS, rec, recs, sentence, severityWord, some, str, written, type Data, type Template } from './read.ts'

// --- alert ----------------------------------------------------------------

export function labelsWhere(labels: unknown): string | undefined {
  const l = rec(labels)
  const parts = ['namespace', 'pod', 'deployment', 'statefulset', 'node', 'service', 'instance'].filter((k) => typeof l[k] === 'string').map((k) => `${k} ${String(l[k])}`)
  return parts.length > 0 ? parts.join(', ') : undefined
}

/** respond-to-alert's target key, `production/deletePod:api-7d9,notify`, as a person reads it: `production/api-7d9`. */
export function alertTarget(d: Data): string | undefined {
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
export function skipKind(reason: string): { short: string; severity: Severity; action: (target: string) => string } {
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

export const alertViews = written(alertTemplates)
