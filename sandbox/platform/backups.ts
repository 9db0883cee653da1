import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { startVaultSimulator, type VaultSimulator } from '../simulators/vault/index.ts'
import { boltDatabase, etcdKeyValue, etcdRevisionKey, redisRdb, scramVerifier, u64be, withEtcdSnapshotHash, type KeyValue, type RdbEntry } from './formats.ts'

/**
 * A demo backup directory of real artifacts, one folder per backup set, with
 * the runbooks' file names, schedules and ages (functions.md):
 *
 *   etcd/etcd_YYYYMMDD_HHMMSS.db (+ .sha256)          daily 01:00, all verify
 *   postgres/all_databases_YYYYMMDD_HHMMSS.sql.gz (+ .sha256)  daily 02:00;
 *                                                     the newest is truncated (corrupt)
 *   redis/dump_YYYYMMDD_HHMMSS.rdb                    daily 01:30; stale: the
 *                                                     last three nights never arrived
 *   vault/vault_YYYYMMDD_HHMMSS.snap                  daily 02:00, all verify
 *   gitea/gitea_YYYYMMDD_HHMMSS.bundle (+ .sha256)    weekly, Sunday 04:00
 *
 * Each file's mtime is when its job finished. Needs `git` on PATH for the
 * bundles (a real `git bundle create`).
 */

export type BackupFormat = 'etcd-snapshot' | 'gzip' | 'redis-rdb' | 'vault-raft' | 'git-bundle'
export type DemoExpectation = 'verified' | 'corrupt' | 'stale'

export interface DemoArtifact {
  path: string
  file: string
  takenAt: Date
  size: number
  /** SHA-256 of the file as written */
  sha256: string
  /** the `.sha256` file beside it, when there is one (sha256sum format) */
  checksumFile?: string
  /** deliberately damaged (a truncated copy) */
  corrupt?: boolean
}

export interface DemoBackupSet {
  name: 'etcd' | 'postgres' | 'redis' | 'vault' | 'gitea'
  dir: string
  format: BackupFormat
  /** the file names, as a glob */
  pattern: string
  /** the runbook's schedule (cron, UTC) */
  schedule: string
  rpoHours: number
  retentionDays: number
  /** newest first */
  artifacts: DemoArtifact[]
  /** what verifying the newest artifact should conclude */
  expected: DemoExpectation
}

export interface DemoBackups { dir: string, sets: DemoBackupSet[] }

export interface DemoBackupOptions {
  /** Take the Vault snapshots from this simulator (restorable into it without force); otherwise from a throwaway one. */
  vault?: VaultSimulator
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const pad = (n: number, w = 2) => String(n).padStart(w, '0')
export const backupStamp = (d: Date): string => `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** The `count` most recent times at hh:mm UTC (every `everyDays` days, on `weekday` if given) not after `now`, skipping the first `skip`. */
function scheduleTimes(now: Date, hh: number, mm: number, count: number, opts: { skip?: number, weekday?: number } = {}): Date[] {
  const out: Date[] = []
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hh, mm, 0))
  for (let t = day.getTime(); out.length < count + (opts.skip ?? 0); t -= DAY) {
    const d = new Date(t)
    if (d > now) continue
    if (opts.weekday !== undefined && d.getUTCDay() !== opts.weekday) continue
    out.push(d)
  }
  return out.slice(opts.skip ?? 0)
}

async function writeArtifact(dir: string, file: string, data: Buffer, takenAt: Date, options: { checksum?: boolean, durationMs?: number, corruptTo?: number } = {}): Promise<DemoArtifact> {
  const path = join(dir, file)
  const finished = new Date(takenAt.getTime() + (options.durationMs ?? 90_000))
  let checksumFile: string | undefined
  if (options.checksum) {
    // Written by the backup job from what it produced, before any later damage.
    checksumFile = `${path}.sha256`
    await writeFile(checksumFile, `${sha256(data)}  ${file}\n`)
    await utimes(checksumFile, finished, finished)
  }
  const written = options.corruptTo !== undefined ? data.subarray(0, options.corruptTo) : data
  await writeFile(path, written)
  await utimes(path, finished, finished)
  return { path, file, takenAt, size: written.length, sha256: sha256(written), ...(checksumFile ? { checksumFile } : {}), ...(options.corruptTo !== undefined ? { corrupt: true } : {}) }
}

// ---------------------------------------------------------------------------
// PostgreSQL: pg_dumpall's plain SQL, as PostgreSQL 15 writes it

const SESSION_SETTINGS = `SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
`

function copyRows(rows: string[][]): string {
  return rows.map((r) => r.join('\t')).join('\n') + '\n\\.\n'
}

/** A cluster dump whose size grows a little every day (so "shrunk" checks have a baseline). */
export function pgDumpallSql(takenAt: Date, dayIndex: number): string {
  const ts = (d: Date) => d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '+00')
  const users = 40 + dayIndex * 3
  const orders = 150 + dayIndex * 12
  const userRows = Array.from({ length: users }, (_, i) => [String(i + 1), `user${i + 1}@example.com`, `User ${i + 1}`, ts(new Date(takenAt.getTime() - (users - i) * 6 * HOUR))])
  const orderRows = Array.from({ length: orders }, (_, i) => [String(i + 1), String((i % users) + 1), ((i * 37) % 9000 / 100 + 5).toFixed(2), i % 7 === 0 ? 'refunded' : 'paid', ts(new Date(takenAt.getTime() - (orders - i) * HOUR))])
  const statRows = Array.from({ length: 30 }, (_, i) => { const d = new Date(takenAt.getTime() - (30 - i) * DAY); return [d.toISOString().slice(0, 10), String(100 + i * 4), String(1000 + i * 37)] })
  const app = scramVerifier(`demo-app-${dayIndex}`, Buffer.from('caretaker-demo-app'))
  const reporting = scramVerifier(`demo-reporting-${dayIndex}`, Buffer.from('caretaker-demo-rpt'))
  const dbDump = (name: string, owner: string, body: string) => `--
-- Database "${name}" dump
--

--
-- PostgreSQL database dump
--

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

${SESSION_SETTINGS}
--
-- Name: ${name}; Type: DATABASE; Schema: -; Owner: ${owner}
--

CREATE DATABASE ${name} WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C';


ALTER DATABASE ${name} OWNER TO ${owner};

\\connect ${name}

${SESSION_SETTINGS}
SET default_tablespace = '';

SET default_table_access_method = heap;

${body}
--
-- PostgreSQL database dump complete
--

`
  const appBody = `--
-- Name: users; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public.users (
    id integer NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.users OWNER TO app;

--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: app
--

CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.users_id_seq OWNER TO app;

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

--
-- Name: orders; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    user_id integer NOT NULL,
    amount numeric(10,2) NOT NULL,
    status text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['paid'::text, 'refunded'::text])))
);


ALTER TABLE public.orders OWNER TO app;

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: app
--

COPY public.orders (id, user_id, amount, status, created_at) FROM stdin;
${copyRows(orderRows)}

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: app
--

COPY public.users (id, email, name, created_at) FROM stdin;
${copyRows(userRows)}

SELECT pg_catalog.setval('public.orders_id_seq', ${orders}, true);

SELECT pg_catalog.setval('public.users_id_seq', ${users}, true);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

CREATE INDEX orders_user_id_idx ON public.orders USING btree (user_id);

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

GRANT SELECT ON TABLE public.orders TO reporting;

GRANT SELECT ON TABLE public.users TO reporting;

`
  const reportingBody = `--
-- Name: daily_stats; Type: TABLE; Schema: public; Owner: reporting
--

CREATE TABLE public.daily_stats (
    day date NOT NULL,
    orders integer NOT NULL,
    revenue numeric(12,2) NOT NULL
);


ALTER TABLE public.daily_stats OWNER TO reporting;

--
-- Data for Name: daily_stats; Type: TABLE DATA; Schema: public; Owner: reporting
--

COPY public.daily_stats (day, orders, revenue) FROM stdin;
${copyRows(statRows)}

ALTER TABLE ONLY public.daily_stats
    ADD CONSTRAINT daily_stats_pkey PRIMARY KEY (day);

`
  return `--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD '${app}';
CREATE ROLE reporting;
ALTER ROLE reporting WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD '${reporting}';

--
-- User Configurations
--


--
-- Databases
--

${dbDump('app', 'app', appBody)}${dbDump('reporting', 'reporting', reportingBody)}--
-- PostgreSQL database cluster dump complete
--

`
}

// ---------------------------------------------------------------------------
// etcd: a Kubernetes etcd's buckets with a few /registry keys

export function etcdSnapshot(takenAt: Date, dayIndex: number): Buffer {
  const rev0 = 120_000 + dayIndex * 1500
  const registry = [
    ['/registry/namespaces/production', { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'production' } }],
    ['/registry/namespaces/databases', { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'databases' } }],
    ['/registry/deployments/production/api', { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'api', namespace: 'production', generation: 4 + dayIndex } }],
    ['/registry/statefulsets/databases/postgres', { kind: 'StatefulSet', apiVersion: 'apps/v1', metadata: { name: 'postgres', namespace: 'databases' } }],
    ['/registry/configmaps/kube-system/kubeadm-config', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'kubeadm-config', namespace: 'kube-system' }, data: { ClusterConfiguration: 'kubernetesVersion: v1.32.0\n' } }],
    ['/registry/leases/kube-system/kube-controller-manager', { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', metadata: { name: 'kube-controller-manager', namespace: 'kube-system' }, spec: { renewTime: takenAt.toISOString() } }],
  ] as const
  const keys: KeyValue[] = registry.map(([key, obj], i) => ({
    key: etcdRevisionKey(rev0 + i),
    value: etcdKeyValue({ key, value: Buffer.from(JSON.stringify(obj)), createRevision: 1000 + i, modRevision: rev0 + i, version: 1 + dayIndex }),
  }))
  const member = '8e9e05c52164694d'
  return withEtcdSnapshotHash(boltDatabase({
    alarm: [],
    auth: [{ key: Buffer.from('authEnabled'), value: Buffer.from([0]) }, { key: Buffer.from('authRevision'), value: u64be(1) }],
    authRoles: [],
    authUsers: [],
    cluster: [{ key: Buffer.from('clusterVersion'), value: Buffer.from('3.5.0') }],
    key: keys,
    lease: [],
    members: [{ key: Buffer.from(member), value: Buffer.from(JSON.stringify({ id: Number.parseInt(member.slice(0, 12), 16), peerURLs: ['https://10.0.0.10:2380'], name: 'control-plane-1' })) }],
    members_removed: [],
    meta: [
      { key: Buffer.from('consistent_index'), value: u64be(rev0 + 40) },
      { key: Buffer.from('finishedCompactRev'), value: etcdRevisionKey(rev0 - 1000) },
      { key: Buffer.from('scheduledCompactRev'), value: etcdRevisionKey(rev0 - 1000) },
      { key: Buffer.from('storageVersion'), value: Buffer.from('3.5.0') },
      { key: Buffer.from('term'), value: u64be(7) },
    ],
  }, 2 * (rev0 % 1000) + 8))
}

// ---------------------------------------------------------------------------
// Redis: sessions, a rate limiter, feature flags

export function redisDump(takenAt: Date, dayIndex: number): Buffer {
  const entries: RdbEntry[] = [
    { key: 'config:feature-flags', data: { type: 'hash', value: { 'new-checkout': 'on', 'dark-mode': 'off', 'search-v2': dayIndex % 2 ? 'on' : 'off' } } },
    { key: 'queue:workers', data: { type: 'set', value: ['worker-0', 'worker-1', 'worker-2'] } },
    { key: 'stats:orders:total', data: { type: 'string', value: String(150 + dayIndex * 12) } },
    ...Array.from({ length: 5 }, (_, i): RdbEntry => ({ key: `session:${createHash('sha1').update(`s${dayIndex}-${i}`).digest('hex').slice(0, 16)}`, expiresAt: new Date(takenAt.getTime() + 365 * DAY), data: { type: 'string', value: JSON.stringify({ user: i + 1, issued: takenAt.toISOString() }) } })),
  ]
  return redisRdb(entries, takenAt)
}

// ---------------------------------------------------------------------------
// Gitea: a repository bundled with git itself

async function gitBundles(times: Date[], dir: string): Promise<Map<number, Buffer>> {
  const work = await mkdtemp(join(tmpdir(), 'caretaker-gitea-'))
  const out = new Map<number, Buffer>()
  try {
    const repo = join(work, 'platform-config')
    await mkdir(repo)
    const git = (args: string[], when: Date) => execFileSync('git', args, {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'Platform Team', GIT_AUTHOR_EMAIL: 'platform@example.com', GIT_COMMITTER_NAME: 'Platform Team', GIT_COMMITTER_EMAIL: 'platform@example.com', GIT_AUTHOR_DATE: when.toISOString(), GIT_COMMITTER_DATE: when.toISOString() },
    })
    const oldest = times[times.length - 1]!
    git(['init', '-q', '-b', 'main'], oldest)
    // Oldest first: every week adds commits, and every bundle holds the whole history.
    for (const [i, t] of [...times].reverse().entries()) {
      for (let c = 0; c < 2; c++) {
        const when = new Date(t.getTime() - (3 - c) * DAY)
        await writeFile(join(repo, 'README.md'), `# platform-config\n\nWeek ${i + 1}, change ${c + 1}.\n`)
        await writeFile(join(repo, `values-week${i + 1}.yaml`), `replicas: ${2 + c}\nimage: registry.example.com/api:1.${i}.${c}\n`)
        git(['add', '-A'], when)
        git(['commit', '-q', '-m', `Week ${i + 1}: change ${c + 1}`], when)
      }
      if (i === 0) git(['tag', 'v1.0.0'], t)
      const file = join(work, `b${i}.bundle`)
      git(['bundle', 'create', '-q', file, '--all'], t)
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

// ---------------------------------------------------------------------------

export async function createDemoBackups(dir: string, now: Date = new Date(), options: DemoBackupOptions = {}): Promise<DemoBackups> {
  const sets: DemoBackupSet[] = []
  const folder = async (name: string) => { const d = join(dir, name); await mkdir(d, { recursive: true }); return d }

  // etcd: daily 01:00, 30 days retention; the last week is here and sound.
  {
    const d = await folder('etcd')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 1, 0, 7).entries()) artifacts.push(await writeArtifact(d, `etcd_${backupStamp(t)}.db`, etcdSnapshot(t, 7 - i), t, { checksum: true, durationMs: 20_000 }))
    sets.push({ name: 'etcd', dir: d, format: 'etcd-snapshot', pattern: 'etcd_*.db', schedule: '0 1 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'verified' })
  }

  // PostgreSQL: daily 02:00, 30 days; the newest dump was cut short (the copy to the backup host broke).
  {
    const d = await folder('postgres')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 2, 0, 7).entries()) {
      const gz = gzipSync(Buffer.from(pgDumpallSql(t, 7 - i)), { level: 6 })
      artifacts.push(await writeArtifact(d, `all_databases_${backupStamp(t)}.sql.gz`, gz, t, { checksum: true, durationMs: 4 * 60_000, ...(i === 0 ? { corruptTo: Math.floor(gz.length * 0.6) } : {}) }))
    }
    sets.push({ name: 'postgres', dir: d, format: 'gzip', pattern: 'all_databases_*.sql.gz', schedule: '0 2 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'corrupt' })
  }

  // Redis: daily 01:30, 7 days; the last three nights never arrived.
  {
    const d = await folder('redis')
    const artifacts: DemoArtifact[] = []
    for (const [i, t] of scheduleTimes(now, 1, 30, 4, { skip: 3 }).entries()) artifacts.push(await writeArtifact(d, `dump_${backupStamp(t)}.rdb`, redisDump(t, 4 - i), t, { durationMs: 15_000 }))
    sets.push({ name: 'redis', dir: d, format: 'redis-rdb', pattern: 'dump_*.rdb', schedule: '30 1 * * *', rpoHours: 24, retentionDays: 7, artifacts, expected: 'stale' })
  }

  // Vault: daily 02:00, 30 days; raft snapshots in Vault's own archive format.
  {
    const d = await folder('vault')
    const own = options.vault ? undefined : await startVaultSimulator()
    try {
      const vault = (options.vault ?? own)!
      const artifacts: DemoArtifact[] = []
      const times = scheduleTimes(now, 2, 0, 5)
      for (const [i, t] of [...times].reverse().entries()) {
        if (own) own.putSecret('secret', `demo/snapshot-${i}`, { note: `written before the snapshot of ${t.toISOString()}` })
        artifacts.unshift(await writeArtifact(d, `vault_${backupStamp(t)}.snap`, vault.snapshot(), t, { durationMs: 10_000 }))
      }
      sets.push({ name: 'vault', dir: d, format: 'vault-raft', pattern: 'vault_*.snap', schedule: '0 2 * * *', rpoHours: 24, retentionDays: 30, artifacts, expected: 'verified' })
    } finally {
      await own?.close()
    }
  }

  // Gitea: weekly, Sunday 04:00, 90 days; real bundles of a growing repository.
  {
    const d = await folder('gitea')
    const times = scheduleTimes(now, 4, 0, 4, { weekday: 0 })
    const bundles = await gitBundles(times, d)
    const artifacts: DemoArtifact[] = []
    for (const t of times) artifacts.push(await writeArtifact(d, `gitea_${backupStamp(t)}.bundle`, bundles.get(t.getTime())!, t, { checksum: true, durationMs: 30_000 }))
    sets.push({ name: 'gitea', dir: d, format: 'git-bundle', pattern: 'gitea_*.bundle', schedule: '0 4 * * 0', rpoHours: 7 * 24, retentionDays: 90, artifacts, expected: 'verified' })
  }

  return { dir, sets }
}
