/**
 * Process entry: `node shared/runtime/main.ts <function-name>` (or
 * FUNCTION_NAME). One function per process, as Knative runs it. The image
 * runs the built bundles instead (scripts/build.ts), the same process with
 * the function imported statically.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FunctionModule } from './function.ts'
import { runFunctionProcess } from './process.ts'

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

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runFunctionProcess(() => loadFunctionModule(process.argv[2] ?? process.env.FUNCTION_NAME ?? ''))
}
