import { parseCloudEvent } from '../cloudevent-http.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'
import { plainRoute } from './plain-http.ts'

/**
 * A dead-letter sink (a definition's `httpPath` with httpPathSender
 * 'knative'): what Knative posts there is a CloudEvent it gave up
 * delivering, authenticated exactly as POST / and parsed here (binary or
 * structured mode; a request that is not one is a 4xx with the usual
 * codes), then given to the instance's handleDeadLetter: the function never
 * parses HTTP.
 */
export const deadLettersPlugin = runtimePlugin<RuntimeContext>('caretaker-dead-letters', (app, ctx, done) => {
  const { httpPath, httpPathSender } = ctx.module.definition
  if (httpPath && httpPath !== '/' && httpPathSender === 'knative') {
    plainRoute(app, ctx, httpPath, { authenticate: true, answer: (request) => ctx.module.handleDeadLetter(parseCloudEvent(request.headers, request.body), request) })
  }
  done()
})
