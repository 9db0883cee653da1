import { stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { CliError, EXIT, usageError, type ExitCode } from './errors.ts'
import type { Printer } from './deliveries.ts'
import { defaultStateDir, findTarget, type Connection, type Target } from './target.ts'
// Each command loads what it needs when it runs (the Kubernetes client, verify-backup's checks): a command starts fast.
import { FILE_FORMATS, type FileFormat } from './formats.ts'

export const HELP = `caretaker: run Caretaker's maintenance functions and read what they did

usage:
  caretaker run <function> [field=value ...] [--apply] [-o json]
      Send a manual request to a function and print its outcome. Dry-run unless --apply.
      Fields are those of the function's request type (caretaker run <function> with a wrong one lists them);
      a string field takes the text as it is, others JSON (count=3, wait=false, checks='["nodes"]').
  caretaker status [-o json]
      Each function: ready or not, its schedules and next run, its last outcome.
  caretaker dead-letters [-o json]
      The events the Broker gave up on, with why.
  caretaker redeliver <event id> [-o json]
      Send a dead letter's event to the Broker again, and print how it went.
  caretaker verify-backup <file-or-directory ...> [--format F] [-o json]
      Verify local backup files once, with no server and no config: the format is read from each
      file (or forced with --format: ${FILE_FORMATS.join(', ')}); a directory is walked.

where it sends:
  By default, to the Caretaker \`npm start\` runs here: it writes its addresses to .caretaker/local.json
  (--state DIR or CARETAKER_STATE for another). In the sandbox a manual request goes to the function's
  POST /manual with the sandbox's admin token; without the sandbox, to the Broker.
  --server URL      a function's address instead, e.g. http://{function}.caretaker.svc.cluster.local
                    ({function} is replaced by the function's name); from outside the cluster, a
                    port-forward: kubectl -n caretaker port-forward svc/verify-backup 8080:80
                    and --server http://127.0.0.1:8080. The request is authenticated with
  --token-file F    a file holding a bearer token, or else
  --kubeconfig F    the kubeconfig's current user (default: KUBECONFIG, then ~/.kube/config), checked
                    by TokenReview and RBAC (README, Trust boundary). Against a server the command
                    prints the accepted request; the outcome reaches notify's channels.

options:
  --apply           act: without it a request is a dry run, which changes nothing
  -o, --output F    text (default) or json
  --timeout S       seconds to wait for an outcome (default 120)
  -h, --help        this text

exit codes:
  0  done: the outcome reported no failure; every backup file verified
  1  done, with a failure: the outcome is a failure, the function refused or failed the request
     (dead-lettered), a backup file failed verification
  2  usage error: unknown command, function or field, a bad value, a missing argument
  3  unavailable: nothing running (start \`npm start\`), connection refused, token refused (401)
     or not allowed (403), no outcome within --timeout`

const print: Printer = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
}

function fileFormat(value: string | undefined): FileFormat | undefined {
  if (value === undefined) return undefined
  if (!(FILE_FORMATS as readonly string[]).includes(value)) throw usageError(`--format must be one of ${FILE_FORMATS.join(', ')}, not ${JSON.stringify(value)}`)
  return value as FileFormat
}

async function verifyBackupCommand(paths: readonly string[], format: FileFormat | undefined, json: boolean): Promise<ExitCode> {
  if (paths.length === 0) throw usageError('name the backup files or directories: caretaker verify-backup <file-or-directory ...>')
  const files: string[] = []
  for (const path of paths) {
    try {
      await stat(path)
    } catch (err) {
      throw usageError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give an existing backup file or directory`)
    }
    files.push(...await (await import('./verify-backup.ts')).backupFiles(path))
  }
  if (files.length === 0) throw usageError(`no files in ${paths.join(', ')}: give backup files, or a directory holding some`)
  const { verifyBackupFile } = await import('./verify-backup.ts')
  const verdicts = []
  for (const file of files) {
    const v = await verifyBackupFile(file, format)
    verdicts.push(v)
    if (!json) print.out(`${v.ok ? 'OK  ' : 'FAIL'}  ${file}${v.format ? ` (${v.format})` : ''}: ${v.message}`)
  }
  if (json) print.out(JSON.stringify(verdicts.map((v) => ({ path: v.path, format: v.format, ok: v.ok, message: v.message, ...(v.failedCheck ? { failedCheck: v.failedCheck } : {}), checks: v.checks })), null, 2))
  const failed = verdicts.filter((v) => !v.ok).length
  if (!json) print.err(failed === 0 ? `${verdicts.length} file(s) verified` : `${failed} of ${verdicts.length} file(s) failed`)
  return failed === 0 ? EXIT.ok : EXIT.failed
}

function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw usageError(`--timeout takes a number of seconds, not ${JSON.stringify(value)}`)
  return n * 1000
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env, cwd = process.cwd()): Promise<ExitCode> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        apply: { type: 'boolean' },
        output: { type: 'string', short: 'o', default: 'text' },
        timeout: { type: 'string', default: '120' },
        state: { type: 'string' },
        server: { type: 'string' },
        'token-file': { type: 'string' },
        kubeconfig: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    print.err(`caretaker: ${(err as Error).message}\nSee caretaker --help.`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help || command === 'help') {
    print.out(HELP)
    return EXIT.ok
  }
  try {
    if (values.output !== 'text' && values.output !== 'json') throw usageError(`-o takes text or json, not ${JSON.stringify(values.output)}`)
    const json = values.output === 'json'
    const timeoutMs = seconds(values.timeout)
    const connection: Connection = {
      stateDir: values.state ?? defaultStateDir(env, cwd),
      server: values.server,
      tokenFile: values['token-file'],
      kubeconfig: values.kubeconfig,
      env,
    }
    const only = (allowed: string[]): void => {
      const given = (['apply', 'server', 'token-file', 'kubeconfig', 'format'] as const).filter((k) => values[k] !== undefined && !allowed.includes(k))
      if (given.length > 0) throw usageError(`${command} takes no --${given.join(', --')}`)
    }
    switch (command) {
      case 'run': {
        only(['apply', 'server', 'token-file', 'kubeconfig'])
        const [name, ...fields] = rest
        const found = await findTarget(connection).catch((err: unknown) => {
          if (err instanceof CliError) return err
          throw err
        })
        const { runCommand } = await import('./run.ts')
        return await runCommand(found, connection, { name, fields, apply: values.apply === true, json, timeoutMs }, print)
      }
      case 'status': {
        only(['server', 'token-file', 'kubeconfig'])
        if (rest.length > 0) throw usageError(`status takes no arguments, not ${rest.join(' ')}`)
        // Schedules are known without anything running: status says what it can.
        let target: Target | undefined
        try {
          target = await findTarget(connection)
        } catch (err) {
          if (!(err instanceof CliError) || err.exitCode !== EXIT.unavailable) throw err
        }
        return await (await import('./status.ts')).statusCommand(target, json, print)
      }
      case 'dead-letters': {
        only(['server'])
        if (rest.length > 0) throw usageError(`dead-letters takes no arguments, not ${rest.join(' ')}`)
        let target: Target | undefined
        try {
          target = await findTarget(connection)
        } catch (err) {
          // The dead letters of a Caretaker that stopped are still listed.
          if (!(err instanceof CliError) || err.exitCode !== EXIT.unavailable) throw err
        }
        return await (await import('./status.ts')).deadLettersCommand(connection.stateDir, target, json, print)
      }
      case 'redeliver': {
        only([])
        if (rest.length > 1) throw usageError(`redeliver takes one event id, not ${rest.length}`)
        return await (await import('./status.ts')).redeliverCommand(await findTarget(connection), rest[0], { json, timeoutMs }, print)
      }
      case 'verify-backup':
        only(['format'])
        return await verifyBackupCommand(rest, fileFormat(values.format), json)
      case undefined:
        throw usageError('name a command: run, status, dead-letters, redeliver or verify-backup')
      default:
        throw usageError(`unknown command "${command}": use run, status, dead-letters, redeliver or verify-backup`)
    }
  } catch (err) {
    if (err instanceof CliError) {
      print.err(`caretaker: ${err.message}${err.exitCode === EXIT.usage ? '\nSee caretaker --help.' : ''}`)
      return err.exitCode
    }
    print.err(`caretaker: ${(err as Error).message}`)
    return EXIT.failed
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
