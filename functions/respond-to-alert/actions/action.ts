import type { KubeConfig } from '../../../shared/kubernetes/api.ts'
import { PatchStrategy, setHeaderOptions } from '../../../shared/kubernetes/api.ts'
import { CaretakerError, Errors } from '../../../shared/errors.ts'
import type { EventRecorder } from '../../../shared/kubernetes/events.ts'
import type { HandlerContext } from '../../../shared/runtime/function.ts'
import type { ResolvedAction, Rule } from '../config.ts'
import type { Resume } from '../plan.ts'

/** What an action did (or, in a dry run, would do), as the reply and the failure event list it. */
export interface ActionResult {
  action: string
  target?: string
  done: boolean
  dryRun?: boolean
  message: string
  /** Done by an earlier attempt at this alert (recorded on its claim): not run again. */
  alreadyDone?: boolean
  /** A restart: whether its rollout finished (as `kubectl rollout status`), and what its status said last. */
  rolled?: boolean
  rollout?: string
  /** A restart with a health check: whether the URL answered 2xx, and its last answer (status, or why none). */
  healthy?: boolean
  healthStatus?: string
}

/** An action that failed part-way (a restart written whose rollout or health check failed): what it got to, for the report. */
export class ActionFailed extends CaretakerError {
  readonly result: ActionResult
  constructor(result: ActionResult, message: string) {
    super(Errors.DependencyFailed, message)
    this.result = result
  }
}

/** What one action of a rule runs with. */
export interface ActionStep {
  context: HandlerContext
  /** The Kubernetes API; DependencyUnavailable when none is configured. */
  kube(): KubeConfig
  /** Writes the audit Event on the object acted on (none without a Kubernetes API). */
  recorder: EventRecorder | undefined
  rule: Rule
  /** The alert's labels, which the action's templates are rendered over. */
  labels: Record<string, string>
  /** The rule's target namespace. */
  namespace: string
  /** The action's 1-based place in the rule (the index of an event it emits). */
  index: number
  /** config.restartTimeout: a restart's wait when the action sets none. */
  restartTimeout: string
  /** An earlier attempt wrote this restart: wait for its rollout instead. */
  resume?: Resume
  /** Records a restart as written, before its wait. */
  written?: (r: Resume, message: string) => Promise<void>
}

/** One kind of action: runs it, or in a dry run says what it would do. Rate limits and records are the caller's. */
export interface ActionRunner<A extends ResolvedAction> {
  run(action: A, step: ActionStep): Promise<ActionResult>
}

/** A JSON merge patch, as `kubectl patch --type merge` sends it. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

export function kubeMissing(): CaretakerError {
  return new CaretakerError(Errors.DependencyUnavailable, 'respond-to-alert needs the Kubernetes API, and none is configured')
}
