import { createHash } from 'node:crypto'
import { CloudEvent } from 'cloudevents'

export interface Outcome<T> {
  type: string
  data: T
  subject?: string
}

export function functionSource(functionName: string): string {
  return `/caretaker/functions/${functionName}`
}

/**
 * The reply to an event. Its id is derived from the event it answers, so a
 * redelivered event yields a reply with the same id and consumers of the
 * reply can deduplicate too.
 */
export function replyEvent<T>(functionName: string, cause: Pick<CloudEvent<unknown>, 'source' | 'id'>, outcome: Outcome<T>, options: { dryRun?: boolean; index?: number } = {}): CloudEvent<T> {
  const id = createHash('sha256')
    .update(functionName).update('\0').update(cause.source).update('\0').update(cause.id).update('\0').update(outcome.type)
    .update('\0').update(String(options.index ?? 0))
    .digest('hex').slice(0, 32)
  return new CloudEvent<T>({
    specversion: '1.0',
    id,
    source: functionSource(functionName),
    type: outcome.type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    ...(outcome.subject ? { subject: outcome.subject } : {}),
    ...(options.dryRun ? { dryrun: 'true' } : {}),
    data: outcome.data,
  }, false)
}
