import { parseDuration } from '../../shared/duration.ts'
import type { Action, ResolvedAction, RespondToAlertConfig, Rule } from './config.ts'
import { matchesAll, parseMatcher, render, type Matcher } from './matchers.ts'
import type { ActionRecord } from './state.ts'

/**
 * respond-to-alert's decisions, pure: which rule an alert matches, what its
 * target is, which of its actions an earlier attempt got through, when an
 * attempt is the last and what the reply says. The effects (Kubernetes,
 * Alertmanager, the Leases) execute what these decide.
 */

/** An Alertmanager alert, as the bridge sends it in dev.caretaker.alert.firing/resolved. */
export interface Alert {
  fingerprint: string
  status: 'firing' | 'resolved'
  labels: Record<string, string>
  annotations?: Record<string, string>
  startsAt: string
  endsAt?: string
}

/** A rule with its matchers parsed once. */
export interface CompiledRule { rule: Rule; matchers: Matcher[] }

/** What a rule acts on: its namespace, how it is shown, and its cooldown key. */
export interface Target { namespace: string; key: string; target: string }

/** Where a restart of an earlier attempt got: written at `generation`, so a retry waits instead of restarting again. */
export interface Resume { generation: number }

/** One action of a plan: run it, resume its restart, or report it as done by an earlier attempt. */
export interface PlannedAction {
  /** 1-based, as recorded on the claim and as the index of an event it emits. */
  index: number
  action: ResolvedAction
  /** Its identity in the record of what was done. */
  id: string
  /** The record of an earlier attempt that did it: not run again. */
  done?: ActionRecord
  resume?: Resume
}

export function compileRules(rules: readonly Rule[]): CompiledRule[] {
  return rules.map((rule) => ({ rule, matchers: rule.matchers.map(parseMatcher) }))
}

/** The first rule whose matchers all match the alert's labels, as Alertmanager's routes match. */
export function findRule(rules: readonly CompiledRule[], labels: Record<string, string>): Rule | undefined {
  return rules.find((r) => matchesAll(r.matchers, labels))?.rule
}

/** The rule's target over these actions (rendered from the labels); a template naming a missing label throws. */
export function targetOf(rule: Rule, actions: readonly Action[], labels: Record<string, string>): Target {
  const namespace = render(rule.namespace, labels)
  const names = actions.map((a) => 'name' in a ? `${a.type}:${render(a.name, labels)}` : 'fromJob' in a ? `${a.type}:job/${render(a.fromJob, labels)}` : a.type)
  return { namespace, target: `${namespace}/${names.join(',')}`, key: `${rule.name}\0${namespace}\0${names.join('\0')}` }
}

/** How long the rule keeps from acting on the same target again, in ms. */
export function cooldownOf(rule: Rule, config: RespondToAlertConfig): { cooldown: string; cooldownMs: number } {
  const cooldown = rule.cooldown ?? config.cooldown
  return { cooldown, cooldownMs: parseDuration(cooldown)! }
}

/** An action's identity in the record of what was done: its type and target, so a changed plan skips nothing else. */
export function actionId(action: ResolvedAction, namespace: string, labels: Record<string, string>): string {
  switch (action.type) {
    case 'restart': case 'scale': return `${action.type}:${action.kind}:${namespace}/${render(action.name, labels)}`
    case 'deletePod': case 'runCronJob': return `${action.type}:${namespace}/${render(action.name, labels)}`
    case 'request': return `request:${action.eventType}`
    case 'notify': return 'notify'
  }
}

/** The action and target fields of an action's result, for one that is not run. */
export function describeAction(action: ResolvedAction, namespace: string, labels: Record<string, string>): { action: string; target?: string } {
  switch (action.type) {
    case 'restart': case 'scale': return { action: `${action.type} ${action.kind}`, target: `${namespace}/${render(action.name, labels)}` }
    case 'deletePod': return { action: 'delete Pod', target: `${namespace}/${render(action.name, labels)}` }
    case 'runCronJob': return { action: 'create Job from CronJob', target: `${namespace}/${render(action.name, labels)}` }
    case 'request': return { action: `request ${action.eventType}` }
    case 'notify': return { action: 'notify' }
  }
}

/**
 * The plan of an attempt: each action with what earlier attempts at this
 * alert recorded on its claim. One recorded done is not run again; a
 * restart recorded as written resumes at its generation.
 */
export function planActions(actions: readonly ResolvedAction[], namespace: string, labels: Record<string, string>, records: readonly ActionRecord[]): PlannedAction[] {
  return actions.map((action, i) => {
    const index = i + 1
    const id = actionId(action, namespace, labels)
    const earlier = records.find((r) => r.index === index && r.action === id)
    if (earlier?.phase === 'done') return { index, action, id, done: earlier }
    const resume = earlier?.phase === 'restarted' && earlier.generation !== undefined ? { generation: earlier.generation } : undefined
    return { index, action, id, ...(resume ? { resume } : {}) }
  })
}

/** Whether this attempt is the Trigger's last (1 + retries): its failure is then reported, not retried. */
export function isLastAttempt(attempt: number, retries: number): boolean {
  return attempt >= retries + 1
}

/** The reply's reason for a remediation, and the actions skipped as already done. */
export function remediatedReason(ruleName: string, dryRun: boolean, results: ReadonlyArray<{ action: string; target?: string; alreadyDone?: boolean }>): { reason: string; skippedAsDone: string[] } {
  const skippedAsDone = results.filter((r) => r.alreadyDone).map((r) => r.target ? `${r.action} ${r.target}` : r.action)
  const reason = dryRun ? `dry-run: rule ${ruleName} would act` : `rule ${ruleName} matched${skippedAsDone.length ? `; skipped as already done by an earlier attempt: ${skippedAsDone.join(', ')}` : ''}`
  return { reason, skippedAsDone }
}
