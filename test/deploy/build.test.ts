import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { buildAll, bundleArgs, EXTERNAL, functionNames, NODE_FLAGS, projectRoot, startBundle, warmCompileCache } from '../../scripts/build.ts'

// `npm run build` as the image runs it: one bundle per function, started
// from a directory with no node_modules anywhere above it (the image holds
// none), each once: ready, alive, and stopped cleanly by SIGTERM.

// esbuild builds the ten bundles in about 10-30 s on an idle machine, the starts take about as long; a loaded one takes
// several times that, which is no failure.
t.setTimeout(600_000)

const work = mkdtempSync(join(tmpdir(), 'caretaker-build-'))
const outRoot = join(work, 'dist')
t.teardown(() => {
  try { chmodSync(join(work, 'cache'), 0o755) } catch { /* not made */ }
  spawnSync('chmod', ['-R', 'u+w', work])
  rmSync(work, { recursive: true, force: true })
})

const names = functionNames()
const built = await buildAll(outRoot)

t.test('one bundle per function, self-contained', async (t) => {
  t.ok(names.length >= 10, `${names.length} functions`)
  t.same(built.map((b) => b.name).sort(), names, 'every function is built')
  for (const name of names) {
    t.ok(existsSync(join(outRoot, name, 'index.mjs')), `dist/${name}/index.mjs`)
    const files = readdirSync(join(outRoot, name))
    t.ok(files.includes('index.mjs.map'), `${name}: its source map is a separate file`)
    t.notOk(files.some((f) => f.endsWith('.ts')), `${name}: no TypeScript in the build`)
  }
  for (const b of built) {
    t.ok(b.precompiledValidators >= 1, `${b.name}: its config (and event) schemas are precompiled (${b.precompiledValidators})`)
    t.notOk(b.compilesSchemas, `${b.name}: no schema compiler of Caretaker's in the bundle`)
  }
  t.notOk(existsSync(join(work, 'node_modules')), 'no node_modules beside the build')
  t.same(EXTERNAL, ['pg-native'], 'only pg\'s optional native binding is left out (never installed)')
  const shipped = readdirSync(join(projectRoot, 'functions', 'notify', 'templates')).sort()
  t.same(readdirSync(join(outRoot, 'notify', 'templates')).sort(), shipped, 'notify\'s message templates are beside its bundle')
  t.notOk(/\bimport\(["'][^"'.][^"']*\.ts["']\)/.test(readFileSync(join(outRoot, names[0]!, 'index.mjs'), 'utf8')), 'no dynamic import of a TypeScript file')
})

t.test('the Kubernetes client is bundled with only the API classes Caretaker calls', async (t) => {
  // shared/kubernetes/client-parts.ts names them: an API class no function calls (NetworkingV1Api) is not in any
  // chunk, while one they call (CoreV1Api) is, beside the function rather than on its start path.
  for (const name of ['prune-snapshots', 'clean-up-resources']) {
    const code = readdirSync(join(outRoot, name)).filter((f) => f.endsWith('.mjs')).map((f) => readFileSync(join(outRoot, name, f), 'utf8'))
    t.ok(code.some((c) => c.includes('CoreV1ApiRequestFactory')), `${name}: CoreV1Api is bundled`)
    t.notOk(code.some((c) => c.includes('NetworkingV1ApiRequestFactory')), `${name}: NetworkingV1Api is not`)
  }
})

t.test('every function starts from its bundle', async (t) => {
  const configDir = join(work, 'config')
  spawnSync('mkdir', ['-p', configDir])
  // Two at a time: a start is mostly one core's work.
  const queue = [...names]
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const started = await startBundle(name, { outRoot, configDir, timeoutMs: 120_000 })
      const live = await fetch(`http://127.0.0.1:${started.port}/health/liveness`)
      t.equal(live.status, 200, `${name}: ready in ${started.readyMs.toFixed(0)} ms, alive`)
      // Readiness is answered before the log line has come through the pipe: wait for it a little.
      const hosted = new RegExp(`"function":"${name}"[^\\n]*"msg":"function ready"`)
      for (let i = 0; i < 200 && !hosted.test(started.output()); i++) await new Promise((r) => setTimeout(r, 50))
      t.match(started.output(), hosted, `${name}: the bundle hosts ${name}`)
      t.equal(await started.stop(), 0, `${name}: SIGTERM drains and exits 0`, { output: started.output().slice(-2000) })
    }
  }
  await Promise.all([worker(), worker()])
})

t.test('the launcher refuses a name it has no bundle for', async (t) => {
  const res = spawnSync(process.execPath, [...bundleArgs(outRoot), 'no-such-function'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  t.equal(res.status, 2, 'exit 2, as a start failure')
  t.match(res.stdout, /"level":"fatal".*no function named \\"no-such-function\\"/, 'a fatal log line naming it')
})

t.test('the compile cache is written once and read from a read-only directory', async (t) => {
  const cache = join(work, 'cache')
  const [name] = names
  await warmCompileCache(cache, outRoot, [name!])
  t.ok(readdirSync(cache).length > 0, 'written by the warm start')
  spawnSync('chmod', ['-R', 'a-w', cache])
  const started = await startBundle(name!, { outRoot, configDir: join(work, 'config'), env: { NODE_COMPILE_CACHE: cache, NODE_COMPILE_CACHE_PORTABLE: '1', NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } })
  t.equal(await started.stop(), 0, 'starts and stops with the cache read-only')
  t.match(started.output(), new RegExp(`cache for ESM file://[^\\n]*/${name}/index\\.mjs was accepted`), 'the bundle\'s code came from the cache')
})

t.test('the compile cache also holds the chunks a function loads only at an event', async (t) => {
  // prune-snapshots loads the Kubernetes client at its first API call, not at start: the warm start alone
  // would not compile that chunk, so warmCompileCache imports every chunk once too.
  const cache = join(work, 'cache-chunks')
  const name = 'prune-snapshots'
  await warmCompileCache(cache, outRoot, [name])
  const dir = join(outRoot, name)
  const lazy = readdirSync(dir).filter((f) => f.startsWith('chunk-') && f.endsWith('.mjs') && readFileSync(join(dir, f), 'utf8').includes('CoreV1ApiRequestFactory'))
  t.equal(lazy.length, 1, 'the Kubernetes client\'s chunk')
  const importChunk = (flags: readonly string[]) => spawnSync(process.execPath, [...flags, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(dir, lazy[0]!)).href)})`], {
    env: { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: cache, NODE_COMPILE_CACHE_PORTABLE: '1', NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
    encoding: 'utf8',
  })
  const accepted = new RegExp(`cache for ESM file://[^\\n]*/${name}/${lazy[0]!.replace('.', '\\.')} was accepted`)
  const imported = importChunk(NODE_FLAGS)
  t.equal(imported.status, 0)
  t.match(imported.stderr, accepted, 'its code comes from the cache, under the image\'s Node options (NODE_FLAGS)')
  // Why every process that writes or reads the cache passes NODE_FLAGS: V8 refuses a cache made under other flags.
  t.notMatch(importChunk([]).stderr, accepted, 'without them the cache is refused')
})
