/**
 * `npm start`: run Caretaker locally. Without a cluster configured it brings
 * up the sandbox platform (simulated Kubernetes and Vault with a demo
 * platform); every function runs on its own loopback port behind the local
 * event mesh, which routes events by the objects in `triggers/`.
 *
 *   npm start                      # the sandbox
 *   KUBECONFIG=~/.kube/config npm start -- --config ./my-config   # a real cluster, in dry-run (and VAULT_ADDR for a real Vault)
 *   KUBECONFIG=~/.kube/config npm start -- --config ./my-config --apply   # and let the functions act
 *   npm start -- --port 9090 --functions ./functions --triggers ./triggers
 */
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createLogger } from '../shared/logger.ts'
import { ALERTMANAGER_PACKAGE } from '../sandbox/harness/alertmanager-process.ts'
import { outcomeLine } from '../cli/outcome.ts'
import { EventTypes } from '../shared/events/catalogue.ts'
import { projectRoot } from '../sandbox/local/functions.ts'
import { startLocalPlatform, type LocalPlatform } from '../sandbox/local/platform.ts'

const USAGE = `usage: npm start -- [--port N] [--kube-port N] [--vault-port N] [--functions DIR] [--triggers DIR] [--manifests DIR] [--state DIR] [--config DIR] [--sandbox | --no-sandbox] [--apply] [--no-databases] [--eventing-oidc disabled|enabled] [--console-port N | --no-console]

  --config DIR   one <function>.yaml per function (what its ConfigMap's config.yaml holds);
                 a function without one takes manifests/<function>/config.yaml (the sandbox: its demo config)
  --apply        against a real cluster, let the functions act; without it they stay in dry-run
  --no-databases in the sandbox, start without maintain-databases' demo PostgreSQL and Redis (a faster start)
  --eventing-oidc  Knative Eventing's authentication-oidc, as the mesh and the functions reproduce it (default disabled)
  --console-port N the local console's loopback port (default 8081, 0 picks a free one); --no-console leaves it out`

function port(value: string, flag: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag} must be a port number (0 picks a free one), not ${JSON.stringify(value)}`)
  return n
}

/** A path as the user would type it: relative when under the working directory. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel && !rel.startsWith('..') ? rel : path
}

/** How to send a manual request: to the function's POST /manual with a Kubernetes token when there is an API server, else to the broker. */
function manualExample(platform: LocalPlatform): string[] {
  const verify = platform.functions.find((f) => f.name === 'verify-backup')
  const ce = [
    `      -H 'ce-specversion: 1.0' -H 'ce-id: manual-1' -H 'ce-source: /manual/you' \\`,
    `      -H 'ce-type: ${EventTypes.BackupVerifyRequested}' -H 'content-type: application/json' \\`,
    `      -d '{"set":"postgresql"}'`,
  ]
  if (platform.sandbox && verify) {
    const kubeconfig = shown(platform.sandbox.kubeconfigPath)
    return [
      '  Send one (a manual request: your Kubernetes token, checked by TokenReview and RBAC):',
      `    curl -i -X POST ${verify.url}/manual \\`,
      `      -H "Authorization: Bearer $(kubectl --kubeconfig ${kubeconfig} config view --raw -o jsonpath='{.users[0].user.token}')" \\`,
      ...ce,
    ]
  }
  return ['  Send one (a manual request, binary-mode CloudEvent):', `    curl -i -X POST ${platform.brokerUrl} \\`, ...ce]
}

function banner(platform: LocalPlatform): string {
  const lines = [
    '',
    'Caretaker is running.',
    '',
    `  Send events to the broker:  ${platform.brokerUrl}`,
    `  Functions:                  ${platform.functions.length === 0 ? '(none in functions/ yet)' : platform.functions.map((f) => `${f.name} ${f.url}`).join(', ')}`,
  ]
  const starting = platform.functions.filter((f) => f.state() === 'starting')
  if (starting.length > 0) {
    lines.push(`  Still starting:             ${starting.map((f) => f.name).join(', ')}`)
    lines.push('                              (a request for one waits until it is ready, as Knative\'s activator holds it while a Service scales from zero)')
  }
  // The token of this start is in the fragment: the browser keeps it, the page sends it with each API call.
  if (platform.console) lines.push(`  Console (open in a browser): ${platform.console.openUrl}`)
  lines.push('', ...manualExample(platform))
  if (platform.sandbox) {
    lines.push(
      '',
      '  The sandbox platform:',
      `    kubectl --kubeconfig ${shown(platform.sandbox.kubeconfigPath)} get deployments,cronjobs,certificates -A`,
      `    curl -s -H "X-Vault-Token: $(cat ${shown(platform.sandbox.vaultTokenPath)})" ${platform.sandbox.vault.url}/v1/secret/metadata/?list=true`,
      `    curl -s ${platform.sandbox.vaultStandby.url}/v1/sys/health   # the Vault HA standby, sealed`,
      platform.sandbox.alertmanager
        ? `    curl -s ${platform.sandbox.alertmanager.url}/api/v2/alerts   # Alertmanager, with the demo alerts firing`
        : `    (no Alertmanager: install ${ALERTMANAGER_PACKAGE} to have the demo alerts; health-report's alerts check is left out)`,
    )
  }
  if (!platform.sandbox) {
    lines.push(
      '',
      platform.dryRun === 'forced'
        ? '  Against your cluster, in dry-run: nothing changes, whatever an event asks. Start with --apply to let the functions act.'
        : `  Against your cluster, started with --apply: the functions act (CARETAKER_DRY_RUN=${platform.dryRun}).`,
      `  Configs: ${[...platform.configs].map(([name, c]) => `${name} ← ${shown(c.source)}`).join(', ') || 'none (defaults)'}`,
    )
  }
  lines.push('', '  Or with the caretaker command (README, Command line): npx caretaker status, npx caretaker run verify-backup set=postgresql')
  lines.push('', '  Stop with Ctrl-C: in-flight events finish first.', '')
  return lines.join('\n')
}

async function main(): Promise<void> {
  const log = createLogger({ name: 'caretaker-local' })
  let values
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8080' },
        'kube-port': { type: 'string', default: '6443' },
        'vault-port': { type: 'string', default: '8200' },
        functions: { type: 'string', default: join(projectRoot, 'functions') },
        triggers: { type: 'string', default: join(projectRoot, 'triggers') },
        manifests: { type: 'string', default: join(projectRoot, 'manifests') },
        state: { type: 'string', default: join(projectRoot, '.caretaker') },
        sandbox: { type: 'boolean' },
        'no-sandbox': { type: 'boolean' },
        config: { type: 'string' },
        apply: { type: 'boolean' },
        'no-databases': { type: 'boolean' },
        'console-port': { type: 'string', default: '8081' },
        'no-console': { type: 'boolean' },
        // Knative Eventing's config-features authentication-oidc, reproduced by the mesh and the functions.
        'eventing-oidc': { type: 'string', default: process.env.CARETAKER_EVENTING_OIDC || 'disabled' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const eventingOidc = values['eventing-oidc']
  if (eventingOidc !== 'disabled' && eventingOidc !== 'enabled') {
    process.stderr.write(`--eventing-oidc must be disabled or enabled (config-features authentication-oidc), not ${JSON.stringify(eventingOidc)}\n${USAGE}\n`)
    process.exitCode = 2
    return
  }
  let platform: LocalPlatform
  try {
    platform = await startLocalPlatform({
      functionsDir: resolve(values.functions),
      triggersDir: resolve(values.triggers),
      manifestsDir: resolve(values.manifests),
      stateDir: resolve(values.state),
      port: port(values.port, '--port'),
      kubePort: port(values['kube-port'], '--kube-port'),
      vaultPort: port(values['vault-port'], '--vault-port'),
      sandbox: values.sandbox ? 'always' : values['no-sandbox'] ? 'never' : 'auto',
      ...(values.config ? { configDir: resolve(values.config) } : {}),
      apply: values.apply === true,
      // Ready as soon as the broker is: the functions start behind their addresses (the banner says which are still starting).
      functionStart: 'background',
      databases: values['no-databases'] !== true,
      eventingOidc,
      ...(values['no-console'] ? {} : { consolePort: port(values['console-port'], '--console-port') }),
      env: process.env,
      logger: log,
      // One line a person reads per outcome, on stderr beside the JSON logs on stdout.
      onOutcome: (event) => process.stderr.write(`outcome: ${outcomeLine(event)}\n`),
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const hint = e.code === 'EADDRINUSE' ? ' (a port is taken: pick others with --port, --kube-port, --vault-port, --console-port, or 0 for any)' : ''
    log.fatal({ error: e.code ?? 'start_failed' }, `could not start: ${e.message}${hint}`)
    process.exitCode = 1
    return
  }
  process.stderr.write(banner(platform))
  log.info({
    ingress: platform.ingressUrl,
    broker: platform.brokerUrl,
    // Without its token, which only the banner shows.
    console: platform.console?.url ?? null,
    eventing_oidc: eventingOidc,
    functions: Object.fromEntries(platform.functions.map((f) => [f.name, f.url])),
    starting: platform.functions.filter((f) => f.state() === 'starting').map((f) => f.name),
    dry_run: platform.dryRun,
    configs: Object.fromEntries([...platform.configs].map(([name, c]) => [name, c.source])),
    sandbox: platform.sandbox ? { kubernetes: platform.sandbox.kube.tlsUrl, vault: platform.sandbox.vault.url, vaultStandby: platform.sandbox.vaultStandby.url, alertmanager: platform.sandbox.alertmanager?.url ?? null, databases: platform.sandbox.databases?.targets.map((d) => d.name) ?? (values['no-databases'] ? [] : 'starting'), kubeconfig: platform.sandbox.kubeconfigPath, backups: platform.sandbox.backups.dir } : null,
  }, 'caretaker ready')

  let stopping = false
  void platform.functionsStarted.then((ended) => {
    // Starts cut short by Ctrl-C are not worth a line.
    if (stopping) return
    const seconds = (ended.ms / 1000).toFixed(1)
    log.info({ ms: ended.ms, ready: ended.ready, failed: ended.failed }, 'functions started')
    process.stderr.write(ended.failed.length === 0
      ? `All ${ended.ready.length} functions are ready (${seconds} s).\n`
      : `${ended.ready.length} of ${ended.ready.length + ended.failed.length} functions are ready (${seconds} s); these did not start (their log above says why): ${ended.failed.map((f) => f.name).join(', ')}. Requests for them are answered 503.\n`)
  })

  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    platform.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err: { message: (err as Error).message } }, 'stopping failed')
      process.exit(1)
    })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

await main()
