import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { nodeChildEnv } from '../../shared/process/node-env.ts'

export const root = fileURLToPath(new URL('../../', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `bin/caretaker.mjs` as a user would, in its own process. */
export function caretaker(args: string[], env: Record<string, string> = {}, timeoutMs = 180_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`${root}bin/caretaker.mjs`, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...nodeChildEnv(), ...env },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0
      resolve({ code, stdout, stderr })
    })
  })
}
