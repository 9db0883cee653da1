import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// Event types are named through the catalogue's constants (EventTypes.X),
// never written as strings: one definition per type, so a renamed type is a
// compile error, not a silent mismatch. The catalogue (shared/events/) holds
// the strings; tests may write the wire value where that is what they check.

const root = fileURLToPath(new URL('../..', import.meta.url))
const scanned = ['functions', 'shared', 'sandbox', 'cli', 'scripts', 'bench']
const catalogue = 'shared/events/'

/**
 * Folders being reworked elsewhere that still write literals, each with the
 * most it may hold: the count may only go down. Drop a folder once it is at 0.
 */
const allowed: Record<string, number> = {
  // A prefix (notify's own outcomes are never notified) and notify's dead-letter message type, which is never an event on the wire.
  'functions/notify/': 2,
}

/** A string that starts with a Caretaker event type's name (a glob such as `dev.caretaker.*` is no type). */
const LITERAL = /['"`]dev\.caretaker\.[a-z]/g

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path)
    return /\.(ts|mts|js|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [path] : []
  })
}

/** The code without its comments, which may quote a type to explain it. */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')

const found = new Map<string, number>()
for (const file of scanned.flatMap(sources)) {
  if (file.startsWith(catalogue)) continue
  const count = code(readFileSync(join(root, file), 'utf8')).match(LITERAL)?.length ?? 0
  if (count > 0) found.set(file, count)
}

t.test('no event type is written as a string outside the catalogue', async (t) => {
  const stray = [...found].filter(([file]) => !Object.keys(allowed).some((folder) => file.startsWith(folder)))
  t.same(stray.map(([file, n]) => `${file}: ${n}`), [], 'use EventTypes.<Name> from shared/events/catalogue.ts')
})

t.test('the folders still allowed literals hold no more than they did', async (t) => {
  for (const [folder, most] of Object.entries(allowed)) {
    const count = [...found].filter(([file]) => file.startsWith(folder)).reduce((sum, [, n]) => sum + n, 0)
    t.ok(count <= most, `${folder}: ${count} literal(s), at most ${most}`)
  }
})

t.test('the scan finds a literal where there is one', async (t) => {
  t.equal(code("const a = 'dev.caretaker.backup.verified'").match(LITERAL)?.length, 1)
  t.equal(code("/** `dev.caretaker.backup.verified` */\n// 'dev.caretaker.x'\nconst b = 'dev.caretaker.*'").match(LITERAL), null)
  t.ok(relative(root, fileURLToPath(import.meta.url)).startsWith('test'), 'tests are not scanned')
})
