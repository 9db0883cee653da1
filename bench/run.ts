/**
 * `npm run bench [-- name...]`: runs each benchmark script of bench/ (or the
 * named ones) one after the other, each in its own process so none skews
 * another's memory, and prints their tables.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const all = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3)).sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; there are: ${all.join(', ')}\n`)
  process.exit(2)
}
let failed = 0
for (const name of wanted.length > 0 ? wanted : all) {
  process.stdout.write(`\n## ${name}\n\n`)
  const res = spawnSync(process.execPath, [`${dir}${name}.ts`], { stdio: 'inherit' })
  if (res.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
