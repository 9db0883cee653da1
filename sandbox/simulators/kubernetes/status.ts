// Error bodies shaped like kube-apiserver's metav1.Status.
export interface Cause { reason: string, message: string, field: string }

export class ApiError extends Error {
  code: number
  reason: string
  details: Record<string, unknown>
  constructor(code: number, reason: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.code = code
    this.reason = reason
    this.details = details
  }

  body(): Record<string, unknown> {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, details: this.details, code: this.code }
  }
}
