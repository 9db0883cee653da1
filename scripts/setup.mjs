// Installs what `npm start` and `npm test` need on a fresh machine, before
// either runs: the npm dependencies (which bring Node 24 into
// node_modules/.bin), and for the tests the Debian packages of the real
// servers they start (PostgreSQL, Redis) and the browser they drive (Chromium). Plain JavaScript on purpose: it
// runs under whatever Node the machine has, before Node 24 is installed.
//
//   node scripts/setup.mjs start|test
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('..', import.meta.url))
const purpose = process.argv[2] ?? 'test'
const ci = process.env.CI === 'true'

/** Debian packages the tests run for real, and a command each provides. */
export const DEBIAN_PACKAGES = [
  { name: 'postgresql', provides: '/usr/lib/postgresql' },
  { name: 'redis-server', provides: '/usr/bin/redis-server' },
  { name: 'redis-tools', provides: '/usr/bin/redis-check-rdb' },
  { name: 'etcd-server', provides: '/usr/bin/etcd' },
  { name: 'etcd-client', provides: '/usr/bin/etcdctl' },
  { name: 'prometheus-alertmanager', provides: '/usr/bin/prometheus-alertmanager' },
  // promtool, which tests the shipped alert rules (test/deploy/alerts.test.ts).
  { name: 'prometheus', provides: '/usr/bin/promtool' },
  { name: 'git', provides: '/usr/bin/git' },
  { name: 'openssl', provides: '/usr/bin/openssl' },
  { name: 'zip', provides: '/usr/bin/zip' },
  { name: 'unzip', provides: '/usr/bin/unzip' },
  // The local console's browser tests (test/console/browser.test.ts), driven by puppeteer-core: no browser download.
  { name: 'chromium', provides: '/usr/bin/chromium' },
]

function say(message) {
  process.stderr.write(`setup: ${message}\n`)
}

function run(command, args, options = {}) {
  say(`${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options })
  if (result.status !== 0) {
    say(`${command} failed (exit ${result.status ?? result.signal})`)
    process.exit(result.status || 1)
  }
}

function npmDependencies() {
  const installed = join(root, 'node_modules', '.package-lock.json')
  const lock = join(root, 'package-lock.json')
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return
  run('npm', ['ci', '--no-audit', '--no-fund'])
}

// tap builds the plugin set of package.json ("tap.plugin") on its first
// run, yet that run still loads the test files with the default set, and
// fails. Building ahead, whenever the install or that setting changed,
// makes the first run the real one.
function tapPlugins() {
  const marker = join(root, 'node_modules', '.caretaker-tap-build')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const installed = statSync(join(root, 'node_modules', '.package-lock.json')).mtimeMs
  const want = JSON.stringify({ plugin: pkg.tap?.plugin ?? [], installed })
  if (existsSync(marker) && readFileSync(marker, 'utf8') === want) return
  run(join(root, 'node_modules', '.bin', 'tap'), ['build'])
  writeFileSync(marker, want)
}

function debianPackages() {
  const missing = DEBIAN_PACKAGES.filter((p) => !existsSync(p.provides)).map((p) => p.name)
  if (missing.length === 0) return
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0
  if (!isRoot || !hasApt) {
    const how = hasApt ? `sudo ${command}` : `your system's packages for: ${missing.join(', ')}`
    if (ci) {
      say(`missing ${missing.join(', ')} and cannot install them here; install with: ${how}`)
      process.exit(1)
    }
    say(`missing ${missing.join(', ')}: the tests that need them will be skipped. Install with: ${how}`)
    return
  }
  // Package scripts must not start the servers as system services: the
  // tests start their own, on free ports, and stop them.
  const policy = '/usr/sbin/policy-rc.d'
  const ownPolicy = !existsSync(policy)
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 })
  try {
    run('apt-get', ['update', '-qq'])
    run('apt-get', command.split(' ').slice(1), { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } finally {
    if (ownPolicy) unlinkSync(policy)
  }
}

npmDependencies()
if (purpose === 'test') {
  debianPackages()
  tapPlugins()
}
// Node 24 is what the project runs on; say so plainly if it is not there.
const node = join(root, 'node_modules', '.bin', 'node')
if (!existsSync(node)) {
  say('node_modules/.bin/node is missing: the npm package "node" (Node 24) did not install; run npm ci')
  process.exit(1)
}
const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
if (!version.startsWith('v24.')) say(`warning: node_modules/.bin/node is ${version}, not Node 24`)
