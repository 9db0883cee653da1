/**
 * What Caretaker's host (host.ts) gives a function, made from the
 * environment through settings.ts for what a caller did not give: when
 * another runtime (faas-js-runtime) hosts the function, or a test
 * initialises it with some dependencies only. The function contract
 * (function.ts) neither reads the environment nor builds clients itself.
 */
import type { Logger } from '../logger.ts'
import type { Vault } from '../vault/client.ts'
import { standaloneSettings } from './settings.ts'
import { createEventSink, type EventSink } from './sink.ts'

export interface GivenDeps {
  configPath?: string
  dryRunDefault?: boolean
  runDeadlineMs?: number | undefined
  vault?: Vault | undefined
  sink?: EventSink
}

export interface CompletedDeps {
  dryRunDefault: boolean
  runDeadlineMs: number | undefined
  vault: Vault | undefined
  sink: EventSink
}

/** The config file: the given path, else CARETAKER_CONFIG; undefined for the schema's defaults. */
export function configPathOf(given: GivenDeps, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return given.configPath ?? standaloneSettings.configPath(env)
}

/** The given dependencies, with what is missing from the environment (the Vault client loaded only when one is configured). */
export async function completeDeps(given: GivenDeps, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<CompletedDeps> {
  const dryRunDefault = given.dryRunDefault ?? standaloneSettings.dryRunDefault(env)
  let vault = given.vault
  if (!vault) {
    const settings = standaloneSettings.vault(env)
    vault = settings ? new (await import('../vault/client.ts')).Vault(settings) : undefined
  }
  return {
    dryRunDefault,
    vault,
    runDeadlineMs: 'runDeadlineMs' in given ? given.runDeadlineMs : standaloneSettings.runDeadlineMs(env),
    sink: given.sink ?? createEventSink(standaloneSettings.sinkUrl(env), log),
  }
}
