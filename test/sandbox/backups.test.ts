import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { Redis } from 'ioredis'
import { binarySkipReason, findBinary } from '../../sandbox/harness/binaries.ts'
import { startDaemon } from '../../sandbox/harness/daemon.ts'
import { acceptsConnections, freePort } from '../../sandbox/harness/ports.ts'
import { postgresSkipReason, startPostgres } from '../../sandbox/harness/postgres.ts'
import { readTar, startVaultSimulator } from '../../sandbox/simulators/vault/index.ts'
import { createDemoBackups, type DemoBackups, type DemoBackupSet } from '../../sandbox/platform/index.ts'
import { crc64, fnv1a64 } from '../../sandbox/platform/formats.ts'

const run = promisify(execFile)
const NOW = new Date('2026-11-22T12:00:00Z')
const HOUR = 3_600_000

/** The reason a tool is missing (tests then skip; under CI=true findBinary throws instead). */
function tool(name: string, packageName: string): { path?: string, skip: string | false } {
  const skip = binarySkipReason(name, { packageName })
  if (skip) return { skip }
  return { path: findBinary(name, { packageName })!, skip: false }
}

async function exitsEnv(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { env, maxBuffer: 16 * 1024 * 1024 })
    return { code: 0, out: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** A missing tool: a skip with the install command (under CI=true findBinary has thrown already). */
function skipped(t: { pass(msg: string): void }, reason: string): void {
  t.pass(`skipped: ${reason}`)
}

async function exits(cmd: string, args: string[], cwd?: string): Promise<{ code: number, out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 })
    return { code: 0, out: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

const dir = await mkdtemp(join(tmpdir(), 'caretaker-demo-backups-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const demo: DemoBackups = await createDemoBackups(dir, NOW)
const set = (name: DemoBackupSet['name']): DemoBackupSet => demo.sets.find((s) => s.name === name)!

t.test('file names, schedules and ages follow the runbooks', async (t) => {
  const patterns: Record<string, RegExp> = {
    etcd: /^etcd_\d{8}_010000\.db$/,
    postgres: /^all_databases_\d{8}_020000\.sql\.gz$/,
    redis: /^dump_\d{8}_013000\.rdb$/,
    vault: /^vault_\d{8}_020000\.snap$/,
    gitea: /^gitea_\d{8}_040000\.bundle$/,
  }
  t.same(demo.sets.map((s) => s.name).sort(), Object.keys(patterns).sort())
  for (const s of demo.sets) {
    const files = (await readdir(s.dir)).filter((f) => !f.endsWith('.sha256')).sort().reverse()
    t.same(files, s.artifacts.map((a) => a.file), `${s.name}: the directory holds the listed artifacts, newest first`)
    for (const a of s.artifacts) {
      t.match(a.file, patterns[s.name]!, `${s.name}: ${a.file}`)
      const st = await stat(a.path)
      t.equal(st.size, a.size)
      t.ok(st.mtime >= a.takenAt && st.mtime.getTime() - a.takenAt.getTime() < HOUR, `${a.file}: mtime is when the job finished`)
      t.ok(st.mtime <= new Date(NOW.getTime() + HOUR), `${a.file}: not in the future`)
    }
    const newest = s.artifacts[0]!
    const age = (NOW.getTime() - newest.takenAt.getTime()) / HOUR
    if (s.expected === 'stale') t.ok(age > s.rpoHours, `${s.name}: newest is ${age} h old, past the ${s.rpoHours} h RPO`)
    else t.ok(age <= s.rpoHours, `${s.name}: newest is ${age} h old, within the ${s.rpoHours} h RPO`)
  }
  t.equal(set('postgres').expected, 'corrupt')
  t.equal(set('redis').expected, 'stale')
  t.same(demo.sets.filter((s) => s.artifacts.some((a) => a.corrupt)).map((s) => s.name), ['postgres'], 'exactly one set holds a corrupt artifact')
  const days = new Set(set('gitea').artifacts.map((a) => a.takenAt.getUTCDay()))
  t.same([...days], [0], 'gitea bundles are taken on Sundays')
  // Sizes grow from day to day, so a shrink check has a baseline.
  const pg = set('postgres').artifacts.filter((a) => !a.corrupt)
  for (let i = 1; i < pg.length; i++) t.ok(pg[i - 1]!.size >= pg[i]!.size, `${pg[i - 1]!.file} is not smaller than the day before`)
})

t.test('gzip -t: every dump is sound except the truncated one', async (t) => {
  const gzip = tool('gzip', 'gzip')
  if (gzip.skip) return skipped(t, gzip.skip)
  for (const a of set('postgres').artifacts) {
    const r = await exits(gzip.path!, ['-t', a.path])
    if (a.corrupt) {
      t.not(r.code, 0, `${a.file}: gzip -t fails`)
      t.match(r.out, /unexpected end of file/)
    } else t.equal(r.code, 0, `${a.file}: gzip -t passes`)
  }
})

t.test('sha256sum -c: the checksum files match, except for the damaged dump', async (t) => {
  const sha = tool('sha256sum', 'coreutils')
  if (sha.skip) return skipped(t, sha.skip)
  let checked = 0
  for (const s of demo.sets) {
    for (const a of s.artifacts.filter((x) => x.checksumFile)) {
      const r = await exits(sha.path!, ['-c', basename(a.checksumFile!)], s.dir)
      if (a.corrupt) t.not(r.code, 0, `${a.file}: sha256sum -c fails`)
      else t.equal(r.code, 0, `${a.file}: ${r.out.trim()}`)
      checked++
    }
  }
  t.ok(checked >= 15, `${checked} checksum files`)
  t.ok(set('etcd').artifacts.every((a) => a.checksumFile) && set('gitea').artifacts.every((a) => a.checksumFile), 'etcd and gitea artifacts all carry one')
})

t.test('PostgreSQL: psql restores the sound dumps into a throwaway server', async (t) => {
  const skip = postgresSkipReason()
  if (skip) return skipped(t, skip)
  const psql = tool('psql', 'postgresql-client')
  if (psql.skip) return skipped(t, psql.skip)
  const dumps = set('postgres').artifacts.filter((a) => !a.corrupt)
  for (const a of [dumps[0]!, dumps[dumps.length - 1]!]) {
    const pg = await startPostgres()
    try {
      const sqlFile = join(dir, `${a.file}.restore.sql`)
      await writeFile(sqlFile, gunzipSync(await readFile(a.path)))
      const r = await exits(psql.path!, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'postgres', '-f', sqlFile])
      await rm(sqlFile)
      t.equal(r.code, 0, `${a.file}: psql -v ON_ERROR_STOP=1 restores it${r.code ? `: ${r.out.slice(0, 400)}` : ''}`)
      const dbs = await pg.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname IN ('app', 'reporting') ORDER BY 1")
      t.same(dbs.rows.map((x) => x.datname), ['app', 'reporting'], 'both databases exist')
      const roles = await pg.query<{ rolname: string, scram: boolean }>("SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram FROM pg_authid WHERE rolname IN ('app', 'reporting') ORDER BY 1")
      t.same(roles.rows, [{ rolname: 'app', scram: true }, { rolname: 'reporting', scram: true }], 'roles with SCRAM verifiers')
      const count = await exits(psql.path!, ['-X', '-At', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'app', '-c', 'SELECT (SELECT count(*) FROM public.users), (SELECT count(*) FROM public.orders), (SELECT count(*) FROM public.orders o JOIN public.users u ON u.id = o.user_id)'])
      const [users, orders, joined] = count.out.trim().split('|').map(Number)
      t.ok(users! >= 40 && orders! >= 150, `app holds ${users} users and ${orders} orders`)
      t.equal(joined, orders, 'every order references a user')
      const seq = await exits(psql.path!, ['-X', '-At', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'app', '-c', "INSERT INTO public.orders (user_id, amount, status) VALUES (1, 1.00, 'paid') RETURNING id"])
      t.equal(Number(seq.out.trim().split('\n')[0]), orders! + 1, 'the identity sequence was restored')
    } finally {
      await pg.stop()
    }
  }
})

t.test('etcd snapshots: bbolt meta pages and the appended SHA-256', async (t) => {
  for (const a of set('etcd').artifacts) {
    const buf = await readFile(a.path)
    t.equal(buf.length % 512, 32, `${a.file}: size % 512 == 32, as etcdutl expects of a hashed snapshot`)
    const db = buf.subarray(0, buf.length - 32)
    t.equal(createHash('sha256').update(db).digest('hex'), buf.subarray(buf.length - 32).toString('hex'), `${a.file}: trailing SHA-256 matches`)
    for (const page of [0, 1]) {
      const m = db.subarray(page * 4096 + 16, page * 4096 + 16 + 64)
      t.equal(db.readUInt16LE(page * 4096 + 8), 0x04, 'meta page flag')
      t.equal(m.readUInt32LE(0), 0xed0cdaed, `meta page ${page}: bbolt magic`)
      t.equal(m.readUInt32LE(4), 2, 'bbolt version 2')
      t.equal(m.readUInt32LE(8), 4096, 'page size')
      t.equal(m.readBigUInt64LE(56), fnv1a64(m.subarray(0, 56)), `meta page ${page}: checksum`)
      t.equal(Number(m.readBigUInt64LE(40)) * 4096, db.length, 'high-water mark covers the file')
    }
    // The root leaf names etcd's buckets.
    const root = Number(db.readBigUInt64LE(16 + 16)) * 4096
    t.equal(db.readUInt16LE(root + 8), 0x02, 'root page is a leaf')
    const names: string[] = []
    for (let i = 0; i < db.readUInt16LE(root + 10); i++) {
      const el = root + 16 + i * 16
      t.equal(db.readUInt32LE(el) & 1, 1, 'bucket entry')
      names.push(db.subarray(el + db.readUInt32LE(el + 4), el + db.readUInt32LE(el + 4) + db.readUInt32LE(el + 8)).toString())
    }
    t.same(names, ['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta'])
    t.ok(db.includes(Buffer.from('/registry/deployments/production/api')), 'holds Kubernetes registry keys')
  }
})

t.test('etcd snapshots: the real etcdctl reads and restores them, and refuses a damaged one', async (t) => {
  const etcdctl = tool('etcdctl', 'etcd-client')
  if (etcdctl.skip) return skipped(t, etcdctl.skip)
  const env = { ...process.env, ETCDCTL_API: '3' }
  const newest = set('etcd').artifacts[0]!
  const status = await run(etcdctl.path!, ['snapshot', 'status', newest.path, '-w', 'json'], { env })
  const st = JSON.parse(status.stdout) as { revision: number, totalKey: number, totalSize: number }
  t.ok(st.revision > 100_000, `etcdctl snapshot status: revision ${st.revision}`)
  t.equal(st.totalSize, newest.size - 32, 'the database size, without the appended hash')
  const work = await mkdtemp(join(tmpdir(), 'caretaker-etcd-restore-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const restore = async (file: string, dataDir: string) => exitsEnv(etcdctl.path!, ['snapshot', 'restore', file, '--data-dir', dataDir], env)
  const ok = await restore(newest.path, join(work, 'good'))
  t.equal(ok.code, 0, `etcdctl snapshot restore (checks the SHA-256)${ok.code ? `: ${ok.out.slice(-400)}` : ''}`)
  const damaged = join(work, 'damaged.db')
  const buf = await readFile(newest.path)
  buf[3 * 4096 + 200] = buf[3 * 4096 + 200]! ^ 0xff
  await writeFile(damaged, buf)
  const bad = await restore(damaged, join(work, 'bad'))
  t.not(bad.code, 0, 'a flipped byte fails the restore')
  t.match(bad.out, /expected sha256/)
})

t.test('Redis RDB: header, CRC64 trailer, redis-check-rdb, and a real server loads it', async (t) => {
  t.equal(crc64(Buffer.from('123456789')).toString(16), 'e9c6d914c4b8d9ca', "Redis's crc64 check value")
  const crcOf = (b: Buffer) => { const x = Buffer.alloc(8); x.writeBigUInt64LE(crc64(b)); return x }
  for (const a of set('redis').artifacts) {
    const buf = await readFile(a.path)
    t.equal(buf.subarray(0, 9).toString(), 'REDIS0010', `${a.file}: REDIS header, version 10`)
    t.same(buf.subarray(buf.length - 8), crcOf(buf.subarray(0, buf.length - 8)), `${a.file}: CRC64 trailer`)
  }
  const check = tool('redis-check-rdb', 'redis-tools')
  if (check.skip) skipped(t, check.skip)
  else {
    for (const a of set('redis').artifacts) {
      const r = await exits(check.path!, [a.path])
      t.equal(r.code, 0, `${a.file}: redis-check-rdb exits 0`)
      t.match(r.out, /RDB looks OK!/)
      t.match(r.out, /8 keys read/)
    }
    const damaged = join(dir, 'damaged.rdb')
    const buf = await readFile(set('redis').artifacts[0]!.path)
    buf[40] = buf[40]! ^ 0xff
    await writeFile(damaged, buf)
    t.not((await exits(check.path!, [damaged])).code, 0, 'a flipped byte fails redis-check-rdb (CRC)')
    await rm(damaged)
  }
  const server = tool('redis-server', 'redis-server')
  if (server.skip) return skipped(t, server.skip)
  const newest = set('redis').artifacts[0]!
  const port = await freePort()
  const daemon = startDaemon(server.path!, ['--port', String(port), '--bind', '127.0.0.1', '--dir', set('redis').dir, '--dbfilename', newest.file, '--save', '', '--appendonly', 'no'])
  t.teardown(() => daemon.stop('SIGTERM', 5000))
  for (let i = 0; i < 100 && !(await acceptsConnections(port)); i++) await new Promise((r) => setTimeout(r, 50))
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    t.equal(await redis.dbsize(), 8, 'redis-server loaded 8 keys')
    t.equal(await redis.hget('config:feature-flags', 'new-checkout'), 'on')
    t.same((await redis.smembers('queue:workers')).sort(), ['worker-0', 'worker-1', 'worker-2'])
    const sessions = await redis.keys('session:*')
    t.equal(sessions.length, 5)
    t.ok((await redis.pttl(sessions[0]!)) > 0, 'sessions carry their expiry')
  } finally {
    redis.disconnect()
  }
})

t.test('Vault raft snapshots: the archive opens, SHA256SUMS match, and Vault restores it', async (t) => {
  for (const a of set('vault').artifacts) {
    const files = readTar(gunzipSync(await readFile(a.path)))
    t.same(files.map((f) => f.name), ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'], `${a.file}: raft snapshot layout`)
    const sums = files.find((f) => f.name === 'SHA256SUMS')!.data.toString().trim().split('\n').map((l) => l.split(/\s+/))
    for (const [hex, name] of sums) t.equal(createHash('sha256').update(files.find((f) => f.name === name)!.data).digest('hex'), hex, `${a.file}: ${name} matches SHA256SUMS`)
  }
  const vault = await startVaultSimulator()
  t.teardown(() => vault.close())
  vault.restore(await readFile(set('vault').artifacts[0]!.path), true)
  t.ok(vault.getSecret('secret', 'demo/snapshot-4'), 'restored (snapshot-force) into another Vault: the newest snapshot holds the last secret')
  const older = await startVaultSimulator()
  t.teardown(() => older.close())
  older.restore(await readFile(set('vault').artifacts[4]!.path), true)
  t.equal(older.getSecret('secret', 'demo/snapshot-4'), null, 'an older snapshot does not')
})

t.test('git bundles: git bundle verify, and a clone holds the history', async (t) => {
  const git = tool('git', 'git')
  if (git.skip) return skipped(t, git.skip)
  const repo = await mkdtemp(join(tmpdir(), 'caretaker-verify-'))
  t.teardown(() => rm(repo, { recursive: true, force: true }))
  await run(git.path!, ['init', '-q', repo])
  for (const a of set('gitea').artifacts) {
    const r = await exits(git.path!, ['bundle', 'verify', a.path], repo)
    t.equal(r.code, 0, `${a.file}: git bundle verify${r.code ? `: ${r.out}` : ''}`)
    t.match(r.out, /is okay|uses this hash algorithm/)
    const head = (await readFile(a.path)).subarray(0, 200).toString('latin1')
    t.ok(head.startsWith('# v2 git bundle\n'), `${a.file}: v2 bundle header`)
    t.notMatch(head.split('\n\n')[0]!, /^-/m, `${a.file}: no prerequisites (a full bundle)`)
  }
  const clone = join(repo, 'clone')
  await run(git.path!, ['clone', '-q', set('gitea').artifacts[0]!.path, clone])
  const { stdout } = await run(git.path!, ['rev-list', '--count', 'HEAD'], { cwd: clone })
  t.equal(Number(stdout.trim()), 8, 'four weeks of two commits each')
})
