/**
 * `npm run build`: one bundle per function, what the image runs.
 *
 *   dist/<function>/index.mjs   the runtime's process entry with that function
 *                               imported statically (no TypeScript loader, no
 *                               module resolution across node_modules at start);
 *                               code only imported dynamically (the Kubernetes
 *                               client where the runtime loads it lazily, Vault,
 *                               ioredis) is split into chunks beside it, loaded
 *                               when first used
 *   dist/<function>/*.map       source maps, separate (node --enable-source-maps)
 *   dist/<function>/templates/  the function's non-code files it reads beside
 *                               its module (notify's message templates), copied
 *   dist/main.mjs               `node dist/main.mjs <function>`: the image's entry,
 *                               the Service's args name the function
 *
 * Every schema a bundle validates with (the function's config schema and the
 * data schema of each event type it accepts) is turned into ajv standalone
 * code here and bundled in place of shared/validators-precompiled.ts; ajv's
 * compiler is left out (shared/schema-compile.ts becomes a stub that
 * refuses), so a built function never compiles a schema at start.
 *
 * `npm run build -- --warm <dir>` then starts every bundle once with
 * NODE_COMPILE_CACHE=<dir>, so V8's compile cache for them is on disk (the
 * Dockerfile does this at image build time).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import standaloneModule from 'ajv/dist/standalone/index.js'
import { build, type Metafile, type Plugin } from 'esbuild'
import { catalogue } from '../shared/events/catalogue.ts'
import { freePort } from '../shared/process/ports.ts'
import type { FunctionModule } from '../shared/runtime/function.ts'
import { createAjv, type JsonSchema } from '../shared/schema.ts'
import { validatorKey, type SchemaPurpose } from '../shared/validators.ts'

// ajv/dist/standalone is CommonJS (module.exports is the function).
const standaloneCode = standaloneModule as unknown as (ajv: ReturnType<typeof createAjv>, refs: Record<string, string>) => string

export const projectRoot = fileURLToPath(new URL('../', import.meta.url))
export const distDir = join(projectRoot, 'dist')

/**
 * The Node options the image runs every bundle with (the Dockerfile's
 * ENTRYPOINT; test/deploy/build.test.ts checks that it has these). Every
 * process that writes or reads the bundles' compile cache passes the same:
 * V8 refuses a code cache made under other flags.
 *
 * --liftoff-only: WebAssembly runs on Liftoff, V8's baseline compiler, and is
 * never recompiled by TurboFan. The only WebAssembly a function runs is
 * undici's HTTP parser (llhttp), which the Kubernetes client's requests go
 * through; its optimizing recompile, on a background thread at the first
 * request, allocated about 14 MiB that glibc then kept in that thread's
 * arena: 12 MiB more RSS for every function that calls the API, for a
 * parser that reads a few kilobytes a request.
 */
export const NODE_FLAGS: readonly string[] = ['--liftoff-only']

/** The arguments of `node` that run a built function, as the image's entrypoint does: `node <bundleArgs> <function>`. */
export function bundleArgs(outRoot = distDir): string[] {
  return [...NODE_FLAGS, join(outRoot, 'main.mjs')]
}

/** The functions: each directory of functions/ with an index.ts. */
export function functionNames(): string[] {
  const dir = join(projectRoot, 'functions')
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'index.ts'))).map((d) => d.name).sort()
}

/**
 * Packages left out of the bundles: pg's optional native binding (pg-native,
 * a C addon pg requires only when `pg.native` is read; Caretaker never
 * installs it). Nothing else: the image holds no node_modules.
 */
export const EXTERNAL = ['pg-native']

const ENTRY = 'caretaker-entry'

/** The source files a function's bundle starts from: the runtime's process and the function (its default export). */
export function bundleEntrySources(name: string): { process: string; fn: string } {
  return { process: 'shared/runtime/process.ts', fn: `functions/${name}/index.ts` }
}

/** The bundle's entry, one per function: the runtime's process with the function statically imported. */
function entryPlugin(name: string): Plugin {
  return {
    name: ENTRY,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${ENTRY}$`) }, () => ({ path: name, namespace: ENTRY }))
      const sources = bundleEntrySources(name)
      b.onLoad({ filter: /.*/, namespace: ENTRY }, () => ({
        resolveDir: projectRoot,
        loader: 'ts',
        contents: [
          `import fn from './${sources.fn}'`,
          `import { runFunctionProcess } from './${sources.process}'`,
          `await runFunctionProcess(async () => fn)`,
        ].join('\n'),
      }))
    },
  }
}

/** The schemas a function validates with, by purpose, keyed as shared/validators.ts looks them up. */
export async function functionSchemas(name: string): Promise<Record<SchemaPurpose, Map<string, JsonSchema>>> {
  const loaded = (await import(pathToFileURL(join(projectRoot, bundleEntrySources(name).fn)).href)) as { default: FunctionModule }
  const definition = loaded.default.definition
  const types = new Map(catalogue)
  for (const t of definition.eventTypes ?? []) types.set(t.type, t)
  const config = new Map([[validatorKey(definition.configSchema, 'config'), definition.configSchema]])
  const data = new Map<string, JsonSchema>()
  for (const type of definition.accepts) {
    const schema = types.get(type)?.schema
    if (!schema) throw new Error(`${name} accepts ${type}, which is not in the event catalogue`)
    data.set(validatorKey(schema, 'data'), schema)
  }
  return { config, data }
}

/** ajv standalone code (an ES module) exporting one validator per key, made with the options the sources compile with. */
export function standaloneValidators(schemas: Map<string, JsonSchema>, purpose: SchemaPurpose, options: { esm?: boolean } = {}): string {
  const ajv = createAjv({ useDefaults: purpose === 'config', code: { source: true, esm: options.esm ?? true } })
  for (const [key, schema] of schemas) ajv.addSchema(schema, key)
  return standaloneCode(ajv, Object.fromEntries([...schemas.keys()].map((k) => [k, k])))
}

const VALIDATORS = 'caretaker-validators'
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Puts the function's precompiled validators in the bundle and leaves ajv's compiler out. */
function validatorsPlugin(schemas: Record<SchemaPurpose, Map<string, JsonSchema>>): Plugin {
  const file = (f: string): RegExp => new RegExp(`^${escapeRegExp(join(projectRoot, 'shared', f))}$`)
  return {
    name: VALIDATORS,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${VALIDATORS}:`) }, (args) => ({ path: args.path.slice(VALIDATORS.length + 1), namespace: VALIDATORS }))
      // The generated code require()s ajv's runtime helpers and ajv-formats' formats: resolved from the project.
      b.onLoad({ filter: /.*/, namespace: VALIDATORS }, (args) => ({ resolveDir: projectRoot, loader: 'js', contents: standaloneValidators(schemas[args.path as SchemaPurpose], args.path as SchemaPurpose) }))
      b.onLoad({ filter: file('validators-precompiled.ts') }, () => ({
        resolveDir: projectRoot,
        loader: 'js',
        contents: [
          `import * as config from '${VALIDATORS}:config'`,
          `import * as data from '${VALIDATORS}:data'`,
          'export const precompiledValidators = new Map([...Object.entries(config), ...Object.entries(data)])',
        ].join('\n'),
      }))
      b.onLoad({ filter: file('schema-compile.ts') }, () => ({
        loader: 'js',
        contents: 'export function compileSchema() { throw new Error("this build has no validator for a schema it was given: every schema a function uses is precompiled by npm run build (scripts/build.ts)") }',
      }))
    },
  }
}

// Bundled CommonJS packages (fastify, pino…) call require() for Node's own modules: an ES module has none.
const BANNER = "import { createRequire as __caretakerRequire } from 'node:module'; const require = __caretakerRequire(import.meta.url);"

export interface BuiltFunction {
  name: string
  /** Bytes of the entry file (what a start parses before the first lazy chunk). */
  entryBytes: number
  /** Input files in the entry's static graph that are from @kubernetes/client-node. */
  kubernetesClientAtStart: boolean
  /** Whether Caretaker's own code in the bundle can compile a schema (it should not: its validators are precompiled). */
  compilesSchemas: boolean
  /** How many validators the bundle carries precompiled. */
  precompiledValidators: number
}

/** What the entry chunk (and the chunks it imports statically) holds. */
function staticInputs(meta: Metafile, entry: string): Set<string> {
  const seen = new Set<string>()
  const inputs = new Set<string>()
  const visit = (out: string): void => {
    if (seen.has(out)) return
    seen.add(out)
    const o = meta.outputs[out]
    if (!o) return
    for (const i of Object.keys(o.inputs)) inputs.add(i)
    for (const imp of o.imports) if (imp.kind === 'import-statement' && !imp.external) visit(imp.path)
  }
  visit(entry)
  return inputs
}

export async function buildFunction(name: string, outRoot = distDir): Promise<BuiltFunction> {
  const outdir = join(outRoot, name)
  rmSync(outdir, { recursive: true, force: true })
  const schemas = await functionSchemas(name)
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: { index: ENTRY },
    plugins: [entryPlugin(name), validatorsPlugin(schemas)],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    splitting: true,
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    external: EXTERNAL,
    banner: { js: BANNER },
    // Whitespace and syntax only: identifiers keep their names, so class names in errors and logs stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  })
  // Read at start with `new URL('./templates/', import.meta.url)`: beside the module in the sources, beside the bundle here.
  const templates = join(projectRoot, 'functions', name, 'templates')
  if (existsSync(templates)) cpSync(templates, join(outdir, 'templates'), { recursive: true })
  const entry = Object.keys(result.metafile.outputs).find((o) => o.endsWith('/index.mjs'))!
  const inputs = staticInputs(result.metafile, entry)
  return {
    name,
    entryBytes: result.metafile.outputs[entry]!.bytes,
    kubernetesClientAtStart: [...inputs].some((i) => i.includes('node_modules/@kubernetes/client-node/')),
    compilesSchemas: Object.keys(result.metafile.inputs).some((i) => i === 'shared/schema.ts'),
    precompiledValidators: schemas.config.size + schemas.data.size,
  }
}

/** dist/main.mjs: `node dist/main.mjs <function>` (or FUNCTION_NAME), as the image's entry with the Service's args. */
const LAUNCHER = `// Generated by scripts/build.ts: runs dist/<function>/index.mjs, the function named by the first argument or FUNCTION_NAME.
import { existsSync } from 'node:fs'
const name = process.argv[2] ?? process.env.FUNCTION_NAME ?? ''
if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !existsSync(new URL(\`./\${name}/index.mjs\`, import.meta.url))) {
  process.stdout.write(JSON.stringify({ level: 'fatal', time: Date.now(), name: 'caretaker', error: 'start_failed', msg: \`no function named \${JSON.stringify(name)} in this build (dist/<function>/index.mjs)\` }) + '\\n')
  process.exit(2)
}
process.argv.splice(2, 1)
await import(\`./\${name}/index.mjs\`)
`

export async function buildAll(outRoot = distDir): Promise<BuiltFunction[]> {
  // esbuild runs the builds in parallel in its own process.
  const built = await Promise.all(functionNames().map((name) => buildFunction(name, outRoot)))
  writeFileSync(join(outRoot, 'main.mjs'), LAUNCHER)
  return built
}

/**
 * manifests/<name>/config.yaml (the config kustomize ships) as a file a local
 * start accepts: a placeholder credential (`REPLACE…`, which the functions
 * refuse) becomes a random one. Undefined when the function has no config.
 */
export function exampleConfigFile(name: string, dir: string): string | undefined {
  const source = join(projectRoot, 'manifests', name, 'config.yaml')
  if (!existsSync(source)) return undefined
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, readFileSync(source, 'utf8').replace(/\bREPLACE[\w-]*/g, () => randomBytes(24).toString('base64url')))
  return file
}

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

export interface StartedBundle {
  child: ChildProcess
  port: number
  /** Spawn to ready (GET /health/readiness answered 200). */
  readyMs: number
  output(): string
  /** SIGTERM, then the exit code (the process drains and exits 0), or the signal that ended it (SIGKILL after 60 s). */
  stop(): Promise<number | NodeJS.Signals | null>
}

/**
 * Start one built function (`node <outRoot>/main.mjs <name>`, as the image
 * does) on loopback with auth off and its example config in dry-run, and
 * wait until it is ready.
 */
export async function startBundle(name: string, options: { outRoot?: string; env?: Record<string, string>; configDir: string; timeoutMs?: number }): Promise<StartedBundle> {
  const port = await freePort()
  const config = exampleConfigFile(name, options.configDir)
  const t0 = performance.now()
  const child = spawn(process.execPath, [...bundleArgs(options.outRoot), name], {
    env: {
      PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE_ENV: 'production',
      HOST: '127.0.0.1', PORT: String(port), CARETAKER_AUTH: 'none', CARETAKER_DRY_RUN: 'true',
      ...(config ? { CARETAKER_CONFIG: config } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const chunks: Buffer[] = []
  child.stdout!.on('data', (c: Buffer) => chunks.push(c))
  child.stderr!.on('data', (c: Buffer) => chunks.push(c))
  const output = (): string => Buffer.concat(chunks).toString('utf8')
  const exited = new Promise<number | NodeJS.Signals | null>((r) => child.once('exit', (code, signal) => r(code ?? signal)))
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready:\n${output()}`)
    if (await getStatus(port, '/health/readiness') === 200) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} was not ready within ${options.timeoutMs ?? 30_000} ms:\n${output()}`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  const readyMs = performance.now() - t0
  return {
    child, port, readyMs, output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      // A drain is quick; a loaded machine can make it slow, never a minute.
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/**
 * The script that imports a function's chunks (CHUNKS, JSON file paths) and
 * writes their compile cache: evaluating a chunk only defines its modules
 * (the entry, index.mjs, is what starts a function, and is not among them).
 */
const IMPORT_CHUNKS = `
import { flushCompileCache } from 'node:module'
import { pathToFileURL } from 'node:url'
for (const file of JSON.parse(process.env.CHUNKS)) await import(pathToFileURL(file).href)
flushCompileCache()
process.exit(0)
`

/**
 * Import every chunk of a built function once with NODE_COMPILE_CACHE: the
 * chunks a start does not load (the Kubernetes client, Vault, the database
 * and SMTP clients, loaded at an event's first use of them) get their code
 * cache too, so that first use reads compiled code as the start does (the
 * Kubernetes client's chunk: about 260 ms to import without it, 170 ms with).
 */
async function warmChunks(dir: string, cacheDir: string): Promise<void> {
  const chunks = readdirSync(dir).filter((f) => f.startsWith('chunk-') && f.endsWith('.mjs')).map((f) => join(dir, f))
  const child = spawn(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', IMPORT_CHUNKS], {
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE_ENV: 'production', NODE_COMPILE_CACHE: cacheDir, NODE_COMPILE_CACHE_PORTABLE: '1', CHUNKS: JSON.stringify(chunks) },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const errors: Buffer[] = []
  child.stderr!.on('data', (c: Buffer) => errors.push(c))
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  if (code !== 0) throw new Error(`importing the chunks of ${dir} exited ${code}:\n${Buffer.concat(errors).toString('utf8')}`)
}

/**
 * Start and stop every built function once with NODE_COMPILE_CACHE=cacheDir:
 * Node writes V8's code cache of every module it compiled there on exit, and
 * later starts with the same cache read it instead of compiling. Then each
 * function's chunks are imported once (warmChunks), for those only an event
 * loads.
 */
export async function warmCompileCache(cacheDir: string, outRoot = distDir, names = functionNames()): Promise<Array<{ name: string; readyMs: number }>> {
  const configDir = mkdtempSync(join(tmpdir(), 'caretaker-warm-'))
  const results: Array<{ name: string; readyMs: number }> = []
  try {
    for (const name of names) {
      const started = await startBundle(name, { outRoot, configDir, env: { NODE_COMPILE_CACHE: cacheDir, NODE_COMPILE_CACHE_PORTABLE: '1' } })
      const health = await getStatus(started.port, '/health/liveness')
      const code = await started.stop()
      if (health !== 200 || code !== 0) throw new Error(`${name}: liveness ${health}, exit ${code}:\n${started.output()}`)
      await warmChunks(join(outRoot, name), cacheDir)
      results.push({ name, readyMs: started.readyMs })
    }
  } finally {
    rmSync(configDir, { recursive: true, force: true })
  }
  return results
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const warm = process.argv.indexOf('--warm')
  if (warm >= 0) {
    const cacheDir = resolve(process.argv[warm + 1] ?? '')
    if (!process.argv[warm + 1]) throw new Error('--warm needs the compile cache directory')
    for (const r of await warmCompileCache(cacheDir)) process.stdout.write(`${r.name}: ready in ${r.readyMs.toFixed(0)} ms, compile cache written to ${cacheDir}\n`)
  } else {
    const t0 = performance.now()
    const built = await buildAll()
    for (const b of built) process.stdout.write(`dist/${b.name}/index.mjs  ${(b.entryBytes / 1024).toFixed(0)} KiB  ${b.precompiledValidators} validators precompiled${b.compilesSchemas ? '  (compiles schemas at start)' : ''}${b.kubernetesClientAtStart ? '  (Kubernetes client on the start path)' : ''}\n`)
    process.stdout.write(`built ${built.length} functions in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }
}
