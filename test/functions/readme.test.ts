import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'

// functions/README.md lists the places a new function touches: each path it
// names exists for the functions wired in that way (check-updates,
// back-up-configuration), so the list cannot name a file that has moved.

const root = new URL('../../', import.meta.url)
const text = await readFile(new URL('functions/README.md', root), 'utf8')
const section = text.slice(text.indexOf('## What a new function touches'))
const ROOTS = /^(functions|shared|manifests|triggers|test|scripts|bench)\/|^README\.md$/
const paths = [...new Set([...section.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!).filter((p) => ROOTS.test(p)))]
const wired = [{ name: 'check-updates', subject: 'updates' }, { name: 'back-up-configuration', subject: 'configuration' }]

t.test('every path the list names exists', async (t) => {
  t.ok(paths.length >= 20, `${paths.length} paths named`)
  for (const { name, subject } of wired) {
    for (const path of paths) {
      const concrete = path.replaceAll('<name>', name).replaceAll('<subject>', subject)
      t.ok(existsSync(new URL(concrete, root)), `${concrete} (${path})`)
    }
  }
})
