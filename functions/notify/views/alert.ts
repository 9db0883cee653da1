import { clip, some } from '../liquid.ts'
import type { Views } from './index.ts'
import { severityWord } from './severity.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** respond-to-alert's outcomes for an Alertmanager alert. */

interface Action { readonly action?: string; readonly target?: string; readonly done?: boolean; readonly dryRun?: boolean; readonly message?: string }
interface Outcome { readonly actions?: readonly Action[]; readonly target?: string }

/** respond-to-alert's target key, `production/deletePod:api-7d9,notify`, as a person reads it: `production/api-7d9`. */
function alertTarget(d: Outcome): string | undefined {
  const fromActions = [...new Set((d.actions ?? []).map((a) => a.target).filter((t): t is string => t !== undefined))]
  if (fromActions.length > 0) return some(fromActions, 3)
  const raw = d.target
  if (!raw) return undefined
  const slash = raw.indexOf('/')
  if (slash < 0) return raw
  const ns = raw.slice(0, slash)
  const names = raw.slice(slash + 1).split(',').filter((p) => p.includes(':')).map((p) => p.slice(p.indexOf(':') + 1)).filter((n) => n.length > 0)
  return names.length > 0 ? some([...new Set(names)].map((n) => `${ns}/${n}`), 3) : `namespace ${ns}`
}

/** Why respond-to-alert skipped an alert, from its reason's words: the template says what each means. */
function skipKind(reason: string): string {
  if (/^no rule/.test(reason)) return 'no-rule'
  if (/^unconfirmed/.test(reason)) return 'unconfirmed'
  if (/^duplicate/.test(reason)) return 'duplicate'
  if (/^cooldown/.test(reason)) return 'cooldown'
  if (/^cap reached/.test(reason)) return 'cap'
  if (/allowed namespaces/.test(reason)) return 'namespace'
  return 'other'
}

const LABELS = ['namespace', 'pod', 'deployment', 'statefulset', 'node', 'service', 'instance'] as const

export const alertViews: Views = {
  [EventTypes.AlertNotification]: (d) => ({
    level: severityWord(d.severity) ?? 'warning',
    // `namespace production, pod api-7d9`: where the alert's labels say it is.
    place: LABELS.filter((k) => typeof d.labels?.[k] === 'string').map((k) => `${k} ${d.labels![k]!}`).join(', ') || undefined,
  }),
  [EventTypes.AlertRemediated]: (d) => {
    const actions = d.actions ?? []
    const notDone = actions.filter((a) => a.done !== true && a.dryRun !== true)
    return {
      targetName: alertTarget(d),
      resolved: /^resolved/.test(d.reason ?? ''),
      // What each action did, in its own words; a person notified is quoted.
      steps: actions.map((a) => (a.action === 'notify' && a.dryRun !== true && a.message ? `notified people ("${clip(a.message, 80)}")` : a.message ?? a.action)).filter((m): m is string => m !== undefined),
      actionCount: actions.length,
      doneCount: actions.filter((a) => a.done === true).length,
      notDone: notDone.length > 0 ? notDone[0]!.message ?? notDone[0]!.action ?? 'an action' : undefined,
    }
  },
  [EventTypes.AlertFailed]: (d) => ({
    targetName: alertTarget(d),
    done: (d.actions ?? []).filter((a) => a.done === true).map((a) => a.message ?? a.action).filter((m): m is string => m !== undefined),
  }),
  [EventTypes.AlertSkipped]: (d) => {
    const target = alertTarget(d)
    const raw = d.reason ?? 'no reason given'
    return {
      targetName: target,
      // The reason names the target by its key: written as a person reads it.
      reasonText: d.target && target ? raw.replaceAll(d.target, target) : raw,
      skip: skipKind(raw),
    }
  },
}
