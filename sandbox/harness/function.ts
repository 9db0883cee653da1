import { PassThrough } from 'node:stream'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { hostFunction, type HostedFunction, type HostOptions } from '../../shared/runtime/host.ts'
import { parseSettings } from '../../shared/runtime/settings.ts'

export interface TestFunction extends HostedFunction {
  /** Every log line written so far, raw (to look for leaks) and parsed. */
  logText(): string
  logLines(): Array<Record<string, unknown>>
}

/**
 * Host a function module through the real runtime on a loopback port, with
 * settings parsed from an environment exactly as in production.
 */
export async function startTestFunction(
  module: FunctionModule,
  options: { env?: Record<string, string>; config?: unknown } & Pick<HostOptions, 'authenticator' | 'idempotency'> = {},
): Promise<TestFunction> {
  const env = { HOST: '127.0.0.1', PORT: '0', CARETAKER_AUTH: 'none', LOG_LEVEL: 'debug', ...options.env }
  const settings = parseSettings(env, module.definition.name)
  const chunks: string[] = []
  const destination = new PassThrough()
  destination.on('data', (c: Buffer) => chunks.push(c.toString('utf8')))
  const hosted = await hostFunction({
    module, settings, logDestination: destination,
    ...(options.config !== undefined ? { config: options.config } : {}),
    ...(options.authenticator ? { authenticator: options.authenticator } : {}),
    ...(options.idempotency ? { idempotency: options.idempotency } : {}),
  })
  return {
    ...hosted,
    logText: () => chunks.join(''),
    logLines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

let counter = 0
/** Headers of a binary-mode CloudEvent. */
export function binaryHeaders(type: string, extra: Record<string, string> = {}): Record<string, string> {
  counter++
  return {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': `test-${process.pid}-${counter}`,
    'ce-source': '/test/runtime',
    'ce-type': type,
    ...extra,
  }
}
