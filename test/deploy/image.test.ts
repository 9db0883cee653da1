import { readdir, readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import picomatch from 'picomatch'
import t from 'tap'
import { bundleArgs, bundleEntrySources } from '../../scripts/build.ts'

// The image runs a bundle per function built from shared/ and functions/
// (Dockerfile, .dockerignore, scripts/build.ts). What is bundled must need
// nothing else: no devDependency (esbuild would bundle one all the same),
// nothing from test/ or scripts/.

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

t.test('the tests are a leaf: nothing outside test/ imports from it', async (t) => {
  const files = [...await sources('sandbox'), ...await sources('cli'), ...await sources('scripts'), ...await sources('bench'), ...await sources('shared'), ...await sources('functions')]
  const problems: string[] = []
  for (const file of files) {
    for (const m of (await readFile(join(root, file), 'utf8')).matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!
      if (spec.startsWith('.') && relative(root, resolve(root, file, '..', spec)).startsWith('test/')) problems.push(`${file} imports ${spec}`)
    }
  }
  t.ok(files.some((f) => f.startsWith('sandbox/')) && files.some((f) => f.startsWith('bench/')), `${files.length} files checked`)
  t.same(problems, [], 'the sandbox, the command, scripts and benchmarks stand on their own')
})

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
  const build = stages[0]!
  const final = stages.at(-1)!
  t.match(final, /^node:24[-.]/, 'the final stage runs Node 24')
  t.match(build, /^node:24[-.]/, 'the build stage too: the compile cache it makes is read by the same Node')
  t.match(build, /npm ci\b/, 'the build stage installs the dependencies, esbuild included')
  t.match(build, /npm run build\b/, 'and builds the bundles (scripts/build.ts)')
  t.match(build, /scripts\/build\.ts --warm \/app\/compile-cache/, 'and writes their compile cache by starting each once')
  t.match(final, /NODE_COMPILE_CACHE=\/app\/compile-cache/, 'which the runtime reads')
  t.match(final, /NODE_COMPILE_CACHE_PORTABLE=1/, 'by paths relative to the cache, as it was written')
  t.match(final, /COPY --from=build \/app\/dist \.\/dist/, 'the bundles')
  t.match(final, /COPY --from=build \/app\/compile-cache \.\/compile-cache/, 'and their cache')
  t.notMatch(final.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n'), /node_modules/, 'no node_modules: the bundles are self-contained')
  t.match(final, /postgresql-15/, 'PostgreSQL server programs for the restore test')
  const install = /apt-get install ([^&]*)/.exec(final)?.[1]?.split(/\s+/) ?? []
  for (const pkg of ['etcd-server', 'etcd-client', 'redis-server', 'git']) t.ok(install.includes(pkg), `${pkg}, for the restore tests of etcd snapshots, RDB files and git bundles`)
  const user = /^USER\s+(\S+)/m.exec(final)?.[1]
  t.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`)
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(final)?.[1]
  const command = entrypoint ? JSON.parse(entrypoint) as string[] : []
  t.same(command.slice(command.indexOf('node')), ['node', ...bundleArgs('dist')], 'the entrypoint is the launcher of the bundles with the Node options their compile cache was written under (bundleArgs, NODE_FLAGS); the function is its argument')
  t.notMatch(final, /COPY (test|scripts|shared|functions)\b/, 'never the tests, the simulators or the sources')
  const ignore = await readFile(join(root, '.dockerignore'), 'utf8')
  t.match(ignore, /^\*$/m, '.dockerignore starts from nothing')
})

// What the image actually runs: every file reached from the bundles' entry
// points (the runtime's process and each function, scripts/build.ts), and
// from the runtime's main (npm start), through static and dynamic imports. Each must be in the image (.dockerignore) and
// import only production dependencies, so a devDependency (kubernetes-models,
// say) used by production code fails here before it fails in a cluster.

/** .dockerignore as Docker reads it: the last pattern matching a path or one of its parents decides. */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false
  const parts = path.split('/')
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  for (const raw of patterns) {
    const negated = raw.startsWith('!')
    const isMatch = picomatch(negated ? raw.slice(1) : raw, { dot: true })
    if (candidates.some((c) => isMatch(c))) ignored = !negated
  }
  return ignored
}

/** What is wrong with one file's imports, for the image. */
function importProblems(file: string, text: string, isInImage: (path: string) => boolean): { problems: string[]; local: string[] } {
  const problems: string[] = []
  const local: string[] = []
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!
    if (spec.startsWith('.')) {
      const target = relative(root, resolve(root, file, '..', spec))
      if (!isInImage(target)) problems.push(`${file} imports ${target}, which the image does not hold`)
      else local.push(target)
      continue
    }
    if (spec.startsWith('node:') || builtinModules.includes(spec)) continue
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
    if (name in pkg.devDependencies) problems.push(`${file} imports ${name}, a devDependency: the image installs production dependencies only`)
    else if (!(name in pkg.dependencies)) problems.push(`${file} imports ${name}, which package.json does not list`)
  }
  return { problems, local }
}

t.test('every file the image runs is in it and imports production dependencies only', async (t) => {
  const patterns = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  const isInImage = (path: string) => !dockerIgnored(patterns, path)
  const functionNames = (await readdir(join(root, 'functions'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)
  const queue = ['shared/runtime/main.ts', ...functionNames.flatMap((n) => Object.values(bundleEntrySources(n)))]
  const reached = new Set<string>()
  const problems: string[] = []
  while (queue.length > 0) {
    const file = queue.shift()!
    if (reached.has(file)) continue
    reached.add(file)
    if (!isInImage(file)) problems.push(`${file} is an entry point the image does not hold`)
    const found = importProblems(file, await readFile(join(root, file), 'utf8'), isInImage)
    problems.push(...found.problems)
    queue.push(...found.local)
  }
  t.ok(reached.has('shared/vault/client.ts') && reached.has('shared/kubernetes/client.ts'), `${reached.size} files reached, dynamic imports followed`)
  t.same(problems, [], 'the image holds what it runs, and no devDependency is needed')

  t.notOk(isInImage('sandbox/mesh/broker.ts'), 'the sandbox (local Knative stand-in, simulators: npm start only) stays out of the image')
  t.notOk([...reached].some((f) => f.startsWith('sandbox/') || f.startsWith('test/')), 'and nothing the image runs needs it')
  t.ok(isInImage('functions/notify/index.ts') && !isInImage('functions/notify/x.test.ts') && !isInImage('sandbox/simulators/kubernetes/server.ts'), '.dockerignore read as Docker does')
  t.ok(isInImage('scripts/build.ts') && isInImage('manifests/notify/config.yaml') && !isInImage('scripts/start.ts') && !isInImage('manifests/notify/service.yaml'), 'the build stage gets the build script and the example configs, nothing else of scripts/ or manifests/')

  for (const name of ['kubernetes-models', '@kubernetes-models/cert-manager', '@kubernetes-models/external-secrets', '@kubernetes-models/knative', '@kubernetes-models/prometheus-operator']) {
    t.ok(name in pkg.devDependencies && !(name in pkg.dependencies), `${name}: tests only, a devDependency`)
  }
  const forged = importProblems('functions/notify/index.ts', "import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate'\n", isInImage)
  t.same(forged.problems, ['functions/notify/index.ts imports @kubernetes-models/cert-manager, a devDependency: the image installs production dependencies only'], 'a production import of a devDependency is caught')
})

t.test('package-lock.json agrees with package.json on what is a devDependency', async (t) => {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; dev?: boolean }> }
  const top = lock.packages['']!
  t.same(Object.keys(top.dependencies ?? {}).sort(), Object.keys(pkg.dependencies).sort(), 'the same production dependencies')
  t.same(Object.keys(top.devDependencies ?? {}).sort(), Object.keys(pkg.devDependencies).sort(), 'the same devDependencies')
  t.equal(lock.packages['node_modules/kubernetes-models']?.dev, true, 'npm ci --omit=dev leaves kubernetes-models out')
})
