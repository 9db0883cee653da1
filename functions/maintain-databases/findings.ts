/** What a task found, how serious it is, and the evidence behind it. */
export type Severity = 'ok' | 'info' | 'warning' | 'critical'

export interface Finding {
  readonly task: string
  readonly check: string
  readonly severity: Severity
  readonly message: string
  readonly evidence: Readonly<Record<string, unknown>>
}

/** A change a task made, or would make in dry-run, or skipped. */
export interface Action {
  readonly task: string
  readonly action: string
  readonly target: string
  readonly outcome: 'done' | 'planned' | 'skipped' | 'failed'
  readonly reason?: string
  readonly durationMs?: number
}

export const SEVERITY_ORDER: readonly Severity[] = ['ok', 'info', 'warning', 'critical']

export function worst(findings: readonly Finding[]): Severity {
  return findings.reduce<Severity>((w, f) => (SEVERITY_ORDER.indexOf(f.severity) > SEVERITY_ORDER.indexOf(w) ? f.severity : w), 'ok')
}

/** Collects a task run's findings and actions. */
export class Report {
  readonly findings: Finding[] = []
  readonly actions: Action[] = []

  find(task: string, check: string, severity: Severity, message: string, evidence: Record<string, unknown> = {}): void {
    this.findings.push({ task, check, severity, message, evidence })
  }

  act(action: Action): void {
    this.actions.push(action)
  }
}
