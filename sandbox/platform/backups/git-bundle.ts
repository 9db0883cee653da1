import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DAY } from './layout.ts'

// Gitea: a repository bundled with git itself

const run = promisify(execFile)

export async function gitBundles(times: Date[], dir: string): Promise<Map<number, Buffer>> {
  const work = await mkdtemp(join(tmpdir(), 'caretaker-gitea-'))
  const out = new Map<number, Buffer>()
  try {
    const repo = join(work, 'platform-config')
    await mkdir(repo)
    // Asynchronously: a sandbox starts its API server meanwhile (some twenty git runs, most of a second).
    const git = (args: string[], when: Date) => run('git', args, {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'Platform Team', GIT_AUTHOR_EMAIL: 'platform@example.com', GIT_COMMITTER_NAME: 'Platform Team', GIT_COMMITTER_EMAIL: 'platform@example.com', GIT_AUTHOR_DATE: when.toISOString(), GIT_COMMITTER_DATE: when.toISOString() },
    })
    const oldest = times[times.length - 1]!
    await git(['init', '-q', '-b', 'main'], oldest)
    // Oldest first: every week adds commits, and every bundle holds the whole history.
    for (const [i, t] of [...times].reverse().entries()) {
      for (let c = 0; c < 2; c++) {
        const when = new Date(t.getTime() - (3 - c) * DAY)
        await writeFile(join(repo, 'README.md'), `# platform-config\n\nWeek ${i + 1}, change ${c + 1}.\n`)
        await writeFile(join(repo, `values-week${i + 1}.yaml`), `replicas: ${2 + c}\nimage: registry.example.com/api:1.${i}.${c}\n`)
        await git(['add', '-A'], when)
        await git(['commit', '-q', '-m', `Week ${i + 1}: change ${c + 1}`], when)
      }
      if (i === 0) await git(['tag', 'v1.0.0'], t)
      const file = join(work, `b${i}.bundle`)
      await git(['bundle', 'create', '-q', file, '--all'], t)
      out.set(t.getTime(), await readFile(file))
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new Error(`git not found: the demo git bundles are made by git itself; install it with: apt-get install -y git (writing into ${dir})`, { cause: err })
    throw err
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return out
}
