import { runtimePlugin, type RuntimeContext } from './context.ts'

/** Knative's probes: liveness is the process answering; readiness is initialised, not shutting down, and the function's own check. */
export const healthPlugin = runtimePlugin<RuntimeContext>('caretaker-health', (app, ctx, done) => {
  app.get('/health/liveness', async () => ({ status: 'ok' }))
  app.get('/health/readiness', async (_req, reply) => {
    if (ctx.isShuttingDown()) return reply.code(503).send({ status: 'shutting down' })
    if (!ctx.isReady()) return reply.code(503).send({ status: 'starting' })
    if (!(await ctx.module.isReady())) return reply.code(503).send({ status: 'not ready' })
    return { status: 'ready' }
  })
  done()
})
