/**
 * A coverage floor per module, checked after the whole suite (`npm test`).
 *
 * tap writes the suite's coverage (its own processes and every Node process
 * they spawned: the functions run as real processes) as
 * `.tap/report/coverage-summary.json` (the `json-summary` report). This
 * groups it by module (a function's folder, a folder of shared/ or of the
 * sandbox, the command) and compares line and branch coverage with `coverage-floors.json`:
 * a module below its floor fails the run. Floors only rise: `--raise` sets
 * each to the measured figure (rounded down to a whole percent) where that is
 * higher, and adds the modules that have none.
 *
 *   node scripts/coverage-floor.ts            check
 *   node scripts/coverage-floor.ts --raise    check, then raise the floors
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const SUMMARY = join(root, '.tap/report/coverage-summary.json')
const FLOORS = join(root, 'coverage-floors.json')

interface Counter { total: number; covered: number }
interface FileSummary { lines: Counter; branches: Counter }
export interface Floor { lines: number; branches: number }
type Floors = Record<string, Floor>

/** `functions/notify/formats.ts` → `functions/notify`; `shared/errors.ts` → `shared`. */
export function moduleOf(file: string): string | undefined {
  const parts = file.split('/')
  if (!['functions', 'shared', 'sandbox', 'cli'].includes(parts[0]!) || file.endsWith('.test.ts')) return undefined
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]
}

const pct = (c: Counter): number => (c.total === 0 ? 100 : (100 * c.covered) / c.total)

export function measure(summary: Record<string, FileSummary>): Map<string, { lines: Counter; branches: Counter }> {
  const out = new Map<string, { lines: Counter; branches: Counter }>()
  for (const [path, s] of Object.entries(summary)) {
    if (path === 'total') continue
    const mod = moduleOf(relative(root, path).split('\\').join('/'))
    if (!mod) continue
    const m = out.get(mod) ?? { lines: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } }
    m.lines.total += s.lines.total
    m.lines.covered += s.lines.covered
    m.branches.total += s.branches.total
    m.branches.covered += s.branches.covered
    out.set(mod, m)
  }
  return out
}

function main(): number {
  if (!existsSync(SUMMARY)) {
    console.error(`coverage-floor: ${relative(root, SUMMARY)} is missing; run the whole suite with tap first (npm test does)`)
    return 1
  }
  const raise = process.argv.includes('--raise')
  const measured = measure(JSON.parse(readFileSync(SUMMARY, 'utf8')) as Record<string, FileSummary>)
  const floors: Floors = existsSync(FLOORS) ? (JSON.parse(readFileSync(FLOORS, 'utf8')) as Floors) : {}
  const below: string[] = []
  const rows: string[] = []
  for (const [mod, m] of [...measured].sort(([a], [b]) => a.localeCompare(b))) {
    const lines = pct(m.lines)
    const branches = pct(m.branches)
    const floor = floors[mod]
    const mark = !floor ? 'no floor yet' : lines < floor.lines || branches < floor.branches ? 'BELOW FLOOR' : 'ok'
    rows.push(`${mod.padEnd(40)} lines ${lines.toFixed(1).padStart(5)}% (floor ${floor?.lines ?? '-'})  branches ${branches.toFixed(1).padStart(5)}% (floor ${floor?.branches ?? '-'})  ${mark}`)
    if (floor && mark === 'BELOW FLOOR') below.push(mod)
    if (raise) floors[mod] = { lines: Math.max(floor?.lines ?? 0, Math.floor(lines)), branches: Math.max(floor?.branches ?? 0, Math.floor(branches)) }
  }
  for (const mod of Object.keys(floors)) if (!measured.has(mod)) rows.push(`${mod.padEnd(40)} not measured: was the whole suite run?`)
  console.log(rows.join('\n'))
  if (raise) writeFileSync(FLOORS, JSON.stringify(Object.fromEntries(Object.entries(floors).sort(([a], [b]) => a.localeCompare(b))), null, 2) + '\n')
  const missing = Object.keys(floors).filter((mod) => !measured.has(mod))
  if (below.length || missing.length) {
    console.error(`coverage-floor: ${[...below.map((m) => `${m} is below its floor`), ...missing.map((m) => `${m} was not measured`)].join('; ')}. Add tests for what the module lost, never lower a floor.`)
    return 1
  }
  return 0
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
