import { runtimePlugin, type RuntimeContext } from './context.ts'

/** GET /metrics: the runtime's and the function's metrics, in Prometheus' text format. */
export const metricsPlugin = runtimePlugin<RuntimeContext>('caretaker-metrics', (app, ctx, done) => {
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType)
    return ctx.metrics.registry.metrics()
  })
  done()
})
