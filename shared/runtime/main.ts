/**
 * Process entry: `node shared/runtime/main.ts <function-name>` (or
 * FUNCTION_NAME). One function per process, as Knative runs it.
 */
import { closeSync, existsSync, openSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isCaretakerError } from '../errors.ts'
import { createLogger } from '../logger.ts'
import type { FunctionModule } from './function.ts'
import { hostFunction } from './host.ts'
import { parseSettings } from './settings.ts'

/** A name from functions/, or a path to a module file (a function kept elsewhere). */
export async function loadFunctionModule(nameOrPath: string): Promise<FunctionModule> {
  // Built output keeps the layout with .js files; sources run as .ts.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
  const isPath = nameOrPath.includes('/')
  const url = isPath ? pathToFileURL(resolve(nameOrPath)) : new URL(`../../functions/${nameOrPath}/index.${ext}`, import.meta.url)
  if (!existsSync(fileURLToPath(url))) throw new Error(isPath ? `no function module at ${nameOrPath}` : `no function named ${nameOrPath} (looked for functions/${nameOrPath}/index.${ext})`)
  const loaded = (await import(url.href)) as { default?: FunctionModule }
  if (!loaded.default?.definition) throw new Error(`${nameOrPath} does not export a function module as its default export`)
  return loaded.default
}

async function main(): Promise<void> {
  const log = createLogger({ name: 'caretaker' })
  try {
    const target = process.argv[2] ?? process.env.FUNCTION_NAME ?? ''
    const module = await loadFunctionModule(target)
    const settings = parseSettings(process.env, module.definition.name)
    const hosted = await hostFunction({ module, settings })
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      hosted.logger.info({ signal }, 'shutting down')
      hosted.stop().then(
        (r) => process.exit(r.drained ? 0 : 1),
        () => process.exit(1),
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    // Started by a local parent with an IPC channel (npm start): the channel closing means the parent is gone,
    // even killed outright, and this function stops with it instead of running on orphaned.
    if (process.send) {
      process.on('disconnect', () => {
        // The parent held the read ends of stdout and stderr: writing there now fails (EPIPE) and would stall the
        // shutdown. The log goes to /dev/null instead: closing a descriptor and opening a file reuses its number.
        for (const fd of [1, 2]) {
          try { closeSync(fd); openSync('/dev/null', 'w') } catch { /* already closed */ }
        }
        stop('parent exited')
      })
    }
  } catch (err) {
    const message = isCaretakerError(err) ? err.message : (err as Error).message
    log.fatal({ error: isCaretakerError(err) ? err.code : 'start_failed' }, message)
    process.exitCode = 2
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
