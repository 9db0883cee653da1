import { readdir, readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The image holds package.json's production dependencies, shared/ and
// functions/ (Dockerfile, .dockerignore). What runs there must need nothing
// else: no devDependency, nothing from test/ or scripts/.

const root = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(relative(root, join(entry.parentPath, entry.name)))
  }
  return out.sort()
}

const IMPORT = /^\s*(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm

t.test('production code imports only production dependencies and its own files', async (t) => {
  const files = [...await sources('shared'), ...await sources('functions')]
  t.ok(files.length > 10, `${files.length} source files checked`)
  const problems: string[] = []
  const packages = new Set<string>()
  for (const file of files) {
    const text = await readFile(join(root, file), 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(root, file, '..', spec))
        if (!target.startsWith('shared/') && !target.startsWith('functions/')) problems.push(`${file} imports ${spec}, outside shared/ and functions/`)
        continue
      }
      if (spec.startsWith('node:') || builtinModules.includes(spec)) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      packages.add(name)
      if (!(name in pkg.dependencies)) problems.push(`${file} imports ${name}, which is not a production dependency${name in pkg.devDependencies ? ' (it is a devDependency)' : ''}`)
    }
  }
  t.ok(packages.has('fastify') && packages.has('@kubernetes/client-node'), `the packages imported were found (${[...packages].sort().join(', ')})`)
  t.same(problems, [], 'nothing the image lacks')
})

t.test('the Dockerfile builds the image the manifests expect', async (t) => {
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8')
  const stages = dockerfile.split(/^FROM /m).slice(1)
  t.ok(stages.length >= 2, 'multi-stage')
  const final = stages.at(-1)!
  t.match(final, /^node:24[-.]/, 'the final stage runs Node 24')
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only')
  t.match(final, /postgresql-15/, 'PostgreSQL server programs for the restore test')
  const user = /^USER\s+(\S+)/m.exec(final)?.[1]
  t.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`)
  t.match(final, /ENTRYPOINT \[.*"shared\/runtime\/main\.ts"\]/, 'the entrypoint is the runtime; the function is its argument')
  for (const dir of ['shared', 'functions']) t.match(final, new RegExp(`COPY ${dir} \\./${dir}`), `copies ${dir}/`)
  t.notMatch(final, /COPY (test|scripts)\b/, 'never the tests or the simulators')
  const ignore = await readFile(join(root, '.dockerignore'), 'utf8')
  t.match(ignore, /^\*$/m, '.dockerignore starts from nothing')
})
