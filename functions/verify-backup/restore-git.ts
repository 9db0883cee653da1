import { basename, join } from 'node:path'
import { listArtifacts, type Artifact } from './artifacts.ts'
import type { BackupSet } from './config.ts'
import { readBundleHeader, type BundleHeader } from './formats/git-bundle.ts'
import { fail, pass, type FormatVerdict } from './formats/stream.ts'
import { boundedRestore, errorLine, restoreProgram, restoreProgramMissing, versionOf, type RestorePrograms } from './restore-process.ts'

/**
 * The git bundle restore test: `git bundle verify`, `git clone --mirror` of
 * the bundle into a throwaway directory, `git fsck --full` of the clone.
 *
 * An incremental bundle (its header lists prerequisite commits, which
 * `git bundle verify` reports as "The bundle requires these N refs") cannot
 * be cloned on its own (git-bundle(1): a bundle with prerequisites can only
 * be fetched into a repository that has them). It is restored the way it
 * would be in earnest: the set's newest full bundle older than it is
 * cloned, the incremental fetched into that clone (after the incremental
 * bundles between the two, oldest first, when it builds on them), and the
 * result checked with `git fsck --full`. A set with no full bundle before
 * the incremental fails: nothing could restore it.
 */

const GIT_ERROR = /^(fatal|error):/
const LACKS_PREREQUISITES = /lacks these prerequisite commits/i

/** git with no system or user configuration of the machine, never asking for anything. */
const GIT_ENV: NodeJS.ProcessEnv = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' }

interface Link {
  readonly artifact: Artifact
  readonly header: BundleHeader
}

/**
 * The bundles an incremental one builds on: the newest full bundle of the
 * set older than it and the incremental ones in between (newest first), or
 * undefined when the set holds no full bundle before it.
 */
async function baseOf(artifact: Artifact, set: BackupSet): Promise<{ base: Link; between: Link[] } | undefined> {
  const all = await listArtifacts(set.directory!, set.pattern!)
  const at = all.findIndex((a) => a.path === artifact.path)
  const older = at >= 0 ? all.slice(at + 1) : all.filter((a) => a.modified < artifact.modified)
  const between: Link[] = []
  for (const candidate of older) {
    const header = await readBundleHeader(candidate.path, candidate.size)
    // An unreadable older bundle is no base; the search goes on past it.
    if ('ok' in header) continue
    if (header.prerequisites.length === 0) return { base: { artifact: candidate, header }, between }
    between.push({ artifact: candidate, header })
  }
  return undefined
}

export async function restoreGitBundle(artifact: Artifact, set: BackupSet, signal: AbortSignal, programs: RestorePrograms = {}): Promise<FormatVerdict> {
  const git = restoreProgram('git', programs)
  if (!git) return fail(`restore test cannot run: ${restoreProgramMissing('git')}`, {})
  const header = await readBundleHeader(artifact.path, artifact.size)
  if ('ok' in header) return fail(`the bundle cannot be restored: ${header.message}`, { restored: false })
  const incremental = header.prerequisites.length > 0
  const chain = incremental ? await baseOf(artifact, set) : { base: { artifact, header }, between: [] }
  if (!chain) {
    return fail(`${artifact.name} is an incremental bundle (it requires ${header.prerequisites.length} commit(s) it does not hold) and the set has no full bundle before it to build on: it cannot be restored`, {
      restored: false, incremental: true, prerequisites: header.prerequisites.length,
    })
  }
  return boundedRestore(set, signal, async (scope, started) => {
    const elapsed = (): number => Math.round(performance.now() - started)
    const run = (args: string[], cwd?: string) => scope.run(git, args, { env: GIT_ENV, ...(cwd ? { cwd } : {}) })
    const tool = versionOf('git', (await run(['--version'])).output)
    const base = chain.base
    const evidence = {
      tool, incremental, ...(incremental ? { base: base.artifact.name, prerequisites: header.prerequisites.length } : {}),
    }
    const failed = (step: string, output: string, extra: Record<string, unknown> = {}): FormatVerdict => {
      const error = errorLine(output, GIT_ERROR) ?? 'no output'
      return fail(`${step}: ${error}`, { ...evidence, ...extra, restored: false, error, durationMs: elapsed() })
    }

    // `git bundle verify` needs a repository, of the bundle's object format.
    const empty = join(scope.dir, 'verify.git')
    const init = await run(['init', '-q', '--bare', `--object-format=${base.header.objectFormat}`, empty])
    if (init.code !== 0) return failed('git init failed', init.output)
    const verified = await run(['bundle', 'verify', base.artifact.path], empty)
    if (verified.code !== 0) return failed(`git bundle verify rejects ${base.artifact.name}`, verified.output)
    const clone = join(scope.dir, 'clone.git')
    const cloned = await run(['clone', '-q', '--mirror', '--no-hardlinks', base.artifact.path, clone])
    if (cloned.code !== 0) return failed(`git clone of ${base.artifact.name} fails`, cloned.output)

    const applied: string[] = []
    const apply = async (link: Link): Promise<{ code: number | null; output: string }> => {
      const check = await run(['bundle', 'verify', link.artifact.path], clone)
      if (check.code !== 0) return check
      const fetched = await run(['fetch', '-q', '--update-head-ok', link.artifact.path, '+refs/*:refs/*'], clone)
      if (fetched.code === 0) applied.push(link.artifact.name)
      return fetched
    }
    if (incremental) {
      let result = await apply({ artifact, header })
      // Not on the full bundle alone ("Repository lacks these prerequisite commits", git's
      // bundle.c verify_bundle): on the incremental ones between, oldest first.
      if (result.code !== 0 && LACKS_PREREQUISITES.test(result.output) && chain.between.length > 0) {
        for (const link of [...chain.between].reverse()) {
          const step = await apply(link)
          if (step.code !== 0) return failed(`${link.artifact.name}, which ${artifact.name} builds on, does not apply onto ${base.artifact.name}`, step.output, { applied })
        }
        result = await apply({ artifact, header })
      }
      if (result.code !== 0) return failed(`${artifact.name} does not apply onto ${base.artifact.name}`, result.output, { applied })
    }

    const fsck = await run(['fsck', '--full', '--no-progress', '--no-dangling'], clone)
    if (fsck.code !== 0) return failed('git fsck --full finds the restored repository broken', fsck.output, { applied })
    const refs = (await run(['for-each-ref', '--format=%(refname)'], clone)).output.split('\n').filter(Boolean).length
    const counted = (await run(['count-objects', '-v'], clone)).output
    const objects = ['count', 'in-pack'].reduce((sum, field) => sum + Number(new RegExp(`^${field}: (\\d+)`, 'm').exec(counted)?.[1] ?? 0), 0)
    const found = { ...evidence, ...(incremental ? { applied } : {}), restored: true, refs, objects, durationMs: elapsed() }
    const how = incremental ? `${basename(base.artifact.name)} cloned and ${applied.join(', ')} fetched into it` : 'cloned'
    return pass(`${how} with ${tool} in ${found.durationMs} ms; git fsck --full is clean: ${refs} ref(s), ${objects} object(s)`, found)
  })
}
