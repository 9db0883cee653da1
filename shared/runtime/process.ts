/**
 * One function as a process: host it, stop on SIGTERM/SIGINT (or when a
 * local parent's IPC channel closes). Shared by the source entry
 * (`shared/runtime/main.ts <name>`, which loads the function by name) and
 * the built bundles (`dist/<name>/index.mjs`, which import it statically).
 */
import { closeSync, openSync } from 'node:fs'
import { isCaretakerError } from '../errors.ts'
import { createLogger } from '../logger.ts'
import type { FunctionModule } from './function.ts'
import { hostFunction } from './host.ts'
import { parseSettings } from './settings.ts'

export async function runFunctionProcess(load: () => Promise<FunctionModule>): Promise<void> {
  // The same asynchronous stdout as the function's own logger (host.ts), flushed at exit.
  const log = createLogger({ name: 'caretaker', asynchronous: true })
  try {
    const module = await load()
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
