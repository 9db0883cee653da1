/**
 * A run's deadline (HandlerContext.deadline, from CARETAKER_RUN_DEADLINE):
 * the moment past which a long run starts nothing new and replies with what it
 * left, so that it reports before Knative's request timeout (the Service's
 * timeoutSeconds) cuts it off unreported.
 */

/** The reason given for each step a run left undone at its deadline. */
export const LEFT_AT_DEADLINE = 'the run\'s deadline is reached: left for the next run'

/** True once `deadline` (epoch ms; undefined or Infinity for none) has passed. */
export function pastDeadline(deadline: number | undefined): boolean {
  return deadline !== undefined && Date.now() >= deadline
}

/** Milliseconds left before `deadline` (Infinity for none; 0 once passed). */
export function timeLeft(deadline: number | undefined): number {
  return deadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, deadline - Date.now())
}
