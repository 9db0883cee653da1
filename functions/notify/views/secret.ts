import { clip, some } from '../liquid.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/**
 * rotate-secret: a rotation (done, planned, or already done), a failed one,
 * and the daily sweep. Parts of these events are objects the catalogue
 * leaves open (the plan, the target, the rows): they are read field by field.
 */

type Open = Record<string, unknown>

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

function number(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function open(v: unknown): Open {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Open : {}
}

function opens(v: unknown): Open[] {
  return Array.isArray(v) ? v.filter((x): x is Open => x !== null && typeof x === 'object' && !Array.isArray(x)) : []
}

/** `namespace/name`, or the name alone. */
function nsName(namespace: unknown, name: unknown): string | undefined {
  const n = text(name)
  const ns = text(namespace)
  return n ? (ns ? `${ns}/${n}` : n) : undefined
}

/** `secret/databases/postgres/app`. */
function vaultPath(v: unknown): string | undefined {
  const vault = open(v)
  const mount = text(vault.mount)
  const path = text(vault.path)
  return mount && path ? `${mount}/${path}` : path ?? mount
}

/** The ExternalSecrets' Secrets, `production/api-db-credentials`. */
function secrets(v: unknown): string[] {
  return opens(v).map((e) => nsName(e.namespace, e.secret ?? e.name)).filter((s): s is string => s !== undefined)
}

/** `Deployment production/api`. */
function workloads(v: unknown): string[] {
  return opens(v).map((w) => [text(w.kind), nsName(w.namespace, w.name)].filter(Boolean).join(' ')).filter((s) => s.length > 0)
}

/** Undo steps with advice in _undo-fix.liquid. */
const UNDO_FIXED = new Set(['write', 'apply', 'sync', 'restart'])

export const secretViews: Views = {
  [EventTypes.SecretRotated]: (d) => {
    if (d.dryRun === true) {
      const plan = open(d.plan)
      const planVault = open(plan.vault)
      const path = vaultPath(plan.vault) ?? vaultPath(d.vault)
      const target = text(plan.target) ?? text(open(d.target).description)
      const syncs = secrets(plan.externalSecrets)
      const restarts = workloads(plan.restarts)
      return {
        path, targetName: target, syncs, restarts,
        currentVersion: number(planVault.currentVersion),
        planRecorded: Object.keys(planVault).length > 0,
        planRotatedAt: planVault.rotatedAt,
        // What the rotation would do, in order: _secret-plan-step.liquid says each.
        planSteps: [target && !/no external target/.test(target) ? 'password' : 'generate', path ? 'write' : undefined, syncs.length > 0 ? 'sync' : undefined, restarts.length > 0 ? 'restart' : undefined].filter((s) => s !== undefined),
      }
    }
    return {
      path: vaultPath(d.vault),
      targetName: text(open(d.target).description) ?? text(open(d.target).kind),
      synced: secrets(d.externalSecrets),
      restarted: workloads(d.consumers),
    }
  },
  [EventTypes.SecretRotationFailed]: (d) => {
    const undo = opens(d.rollback)
    const undoFailed = undo.filter((u) => u.ok === false).map((u) => text(u.step) ?? '?')
    return {
      path: vaultPath(d.vault),
      targetName: text(open(d.target).description) ?? text(open(d.target).kind),
      undo: undo.map((u) => ({ step: text(u.step) ?? '?', ok: u.ok === true })),
      undoFailed,
      fixes: undoFailed.filter((s) => UNDO_FIXED.has(s)),
    }
  },
  [EventTypes.SecretSweepCompleted]: (d) => {
    const rows = d.secrets ?? []
    const name = (r: Open) => text(r.secret) ?? '?'
    const dueRows = rows.filter((r) => r.due === true)
    const rotatedRows = rows.filter((r) => r.result === 'rotated')
    const failedRows = rows.filter((r) => r.result === 'failed')
    const notDue = rows.filter((r) => r.due === false)
    const next = notDue
      .map((r) => ({ name: name(r), dueAt: r.dueAt, t: typeof r.dueAt === 'string' ? Date.parse(r.dueAt) : Number.NaN }))
      .filter((r) => Number.isFinite(r.t))
      .sort((a, b) => a.t - b.t)[0]
    return {
      secretCount: rows.length,
      dueCount: d.due ?? dueRows.length,
      rotatedCount: d.rotated ?? rotatedRows.length,
      failedCount: d.failed ?? failedRows.length,
      failedList: some(failedRows.map((r) => `${name(r)} (step ${text(r.failedStep) ?? '?'}, ${r.rolledBack === false ? 'NOT rolled back' : 'rolled back'})`)),
      notRolledBack: failedRows.filter((r) => r.rolledBack === false).map(name),
      rotatedNames: rotatedRows.map(name),
      dueList: dueRows.map((r) => `${name(r)} (${clip(text(r.reason) ?? 'due', 70)})`),
      notDueCount: notDue.length,
      next: next ? { name: next.name, dueAt: next.dueAt } : undefined,
    }
  },
}
