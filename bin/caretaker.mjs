#!/usr/bin/env node
// The `caretaker` command (package.json "bin"). Plain JavaScript on purpose:
// it starts under whatever Node runs it. The command itself is TypeScript
// (cli/main.ts), which Node 24 runs as it is, as `npm start` runs
// scripts/start.ts; under an older Node this re-runs itself with the Node 24
// the project installs into node_modules (the "node" package).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import module from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = join(root, 'cli', 'main.ts')
const major = Number(process.versions.node.split('.')[0])

if (major >= 24) {
  // The command's modules, compiled (and their types stripped) once, not at every run (npm start shares the cache).
  // Not while V8 collects coverage (a test run): a function read from the cache has no block-level coverage.
  if (!process.env.NODE_V8_COVERAGE) module.enableCompileCache(process.env.NODE_COMPILE_CACHE || join(root, 'node_modules', '.cache', 'caretaker', 'compile'))
  const { main } = await import(pathToFileURL(entry).href)
  process.exitCode = await main(process.argv.slice(2))
} else {
  const node = join(root, 'node_modules', '.bin', 'node')
  if (!existsSync(node)) {
    process.stderr.write(`caretaker: needs Node 24 or later (this is ${process.version}), and ${node} is missing: run \`npm install\` in ${root}\n`)
    process.exit(3)
  }
  const result = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  if (result.error) {
    process.stderr.write(`caretaker: cannot run ${node}: ${result.error.message}\n`)
    process.exit(3)
  }
  process.exit(result.status ?? 1)
}
