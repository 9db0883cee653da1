/**
 * verify-backup's gzip integrity check against `gzip -t` (and `pigz -t`
 * when installed) on the same file in the same run, then its peak memory
 * as the file grows: the check streams, so memory must stay flat.
 *
 *   npm run bench -- verify-backup          (1 GiB; BENCH_SIZE_MB to change)
 */
import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { createGzip } from 'node:zlib'
import { verifyGzip } from '../functions/verify-backup/formats/gzip.ts'
import { restoreDump } from '../functions/verify-backup/restore.ts'
import { findPostgresBinDir, startThrowawayPostgres } from '../shared/postgres/throwaway.ts'

const MiB = 1024 * 1024

/** A pg_dumpall-like text of `bytes` bytes: COPY rows with varied values, compressing about 4:1. */
async function makeDump(path: string, bytes: number): Promise<number> {
  let written = 0
  let seed = 42
  const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  const header = '--\n-- PostgreSQL database cluster dump\n--\n\nCOPY public.orders (id, customer, item, amount, placed) FROM stdin;\n'
  const footer = '\\.\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n'
  const source = Readable.from((function* () {
    yield header
    written += header.length
    let id = 0
    while (written < bytes - footer.length) {
      const lines: string[] = []
      for (let i = 0; i < 2000; i++) {
        id++
        lines.push(`${id}\tcustomer-${rand() % 50000}\titem-${(rand() % 9000).toString(36)}\t${(rand() % 100000) / 100}\t2026-11-${String(1 + (rand() % 28)).padStart(2, '0')} ${String(rand() % 24).padStart(2, '0')}:${String(rand() % 60).padStart(2, '0')}:00+00\n`)
      }
      const chunk = lines.join('')
      written += chunk.length
      yield chunk
    }
    yield footer
  })())
  await pipeline(source, createGzip({ level: 1 }), createWriteStream(path))
  return (await stat(path)).size
}

function timeCommand(command: string, args: string[]): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(command, args, { stdio: 'ignore' })
    child.on('error', () => resolve(undefined))
    child.on('exit', (code) => resolve(code === 0 ? performance.now() - started : undefined))
  })
}

const has = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0

/** Peak RSS of a fresh process that verifies `path`: memory of the check alone. */
function peakRss(path: string): { ms: number; maxRssMiB: number; baselineMiB: number } {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', path], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`measuring failed: ${res.stderr}`)
  return JSON.parse(res.stdout) as { ms: number; maxRssMiB: number; baselineMiB: number }
}

async function measure(path: string): Promise<void> {
  const size = (await stat(path)).size
  // The process before the check, its modules loaded: what the check adds is measured against it.
  const baselineMiB = process.resourceUsage().maxRSS / 1024
  const started = performance.now()
  const verdict = await verifyGzip(path, size, { pgDumpall: true })
  if (!verdict.ok) throw new Error(verdict.message)
  process.stdout.write(JSON.stringify({ ms: performance.now() - started, maxRssMiB: process.resourceUsage().maxRSS / 1024, baselineMiB }))
}

/**
 * The restore test (initdb, start, restore, checks, stop) against a bare
 * `psql -f` of the same dump into a server that is already running.
 */
async function restoreBench(dir: string): Promise<string[]> {
  if (!findPostgresBinDir()) return ['restore test: PostgreSQL is not installed here; not measured', '']
  const rows = Number(process.env.BENCH_RESTORE_ROWS ?? 600_000)
  const source = await startThrowawayPostgres()
  const sqlPath = join(dir, 'restore.sql')
  try {
    await source.query('CREATE DATABASE app')
    await source.query('CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, item text, amount numeric, placed timestamptz DEFAULT now())', [], 'app')
    await source.query(`INSERT INTO orders (customer, item, amount) SELECT 'customer-' || (g % 50000), 'item-' || (g % 9000), (g % 10000) / 100.0 FROM generate_series(1, ${rows}) g`, [], 'app')
    await source.query('CREATE INDEX orders_customer ON orders (customer)', [], 'app')
    const dump = spawnSync(join(source.binDir, 'pg_dumpall'), ['-h', source.host, '-p', String(source.port), '-U', source.user, '-f', sqlPath], { encoding: 'utf8' })
    if (dump.status !== 0) throw new Error(dump.stderr)
  } finally {
    await source.stop()
  }
  const gzPath = `${sqlPath}.gz`
  await pipeline((await import('node:fs')).createReadStream(sqlPath), createGzip({ level: 1 }), createWriteStream(gzPath))
  const sqlMiB = (await stat(sqlPath)).size / MiB
  const bare = async (): Promise<number> => {
    const target = await startThrowawayPostgres({ user: 'caretaker_restore' })
    try {
      const started = performance.now()
      const res = spawnSync(join(target.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', target.host, '-p', String(target.port), '-U', target.user, '-d', 'postgres', '-f', sqlPath], { encoding: 'utf8' })
      if (res.status !== 0) throw new Error(res.stderr)
      return performance.now() - started
    } finally {
      await target.stop()
    }
  }
  const ours = async (): Promise<number> => {
    const size = (await stat(gzPath)).size
    const started = performance.now()
    const verdict = await restoreDump({ path: gzPath, name: 'restore.sql.gz', size, modified: new Date(), time: new Date(), timeSource: 'mtime' }, {
      name: 'bench', format: 'pg-dumpall-gzip', rpo: '24h', minSizeBytes: 1, maxShrinkPercent: 50,
      restore: { timeout: '30m', databases: ['app'], queries: [{ database: 'app', sql: 'select count(*) from orders', min: rows }] },
    }, new AbortController().signal)
    if (!verdict.ok) throw new Error(verdict.message)
    return performance.now() - started
  }
  const best = async (fn: () => Promise<number>): Promise<number> => Math.min(await fn(), await fn())
  const bareMs = await best(bare)
  const oursMs = await best(ours)
  return [
    `restore test: a ${sqlMiB.toFixed(0)} MB pg_dumpall dump (${rows} rows and an index), best of 2 (goal: ≤ 1.3× a bare psql -f)`,
    '',
    '| restore | time | ratio |',
    '| --- | ---: | ---: |',
    `| bare psql -f into a running server | ${bareMs.toFixed(0)} ms | 1.00 |`,
    `| verify-backup's restore test (initdb, start, gunzip + psql, checks, stop) | ${oursMs.toFixed(0)} ms | ${(oursMs / bareMs).toFixed(2)} |`,
    '',
  ]
}

async function main(): Promise<void> {
  const totalMiB = Number(process.env.BENCH_SIZE_MB ?? 1024)
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-bench-'))
  try {
    const sizes = [...new Set([Math.max(16, Math.round(totalMiB / 16)), Math.max(32, Math.round(totalMiB / 4)), totalMiB])]
    const files: Array<{ mib: number; path: string; compressed: number }> = []
    for (const mib of sizes) {
      const path = join(dir, `dump-${mib}.sql.gz`)
      process.stderr.write(`making a ${mib} MiB dump...\n`)
      files.push({ mib, path, compressed: await makeDump(path, mib * MiB) })
    }
    const biggest = files.at(-1)!
    const rounds = 3
    const best = async (fn: () => Promise<number | undefined>): Promise<number | undefined> => {
      let min: number | undefined
      for (let i = 0; i < rounds; i++) {
        const ms = await fn()
        if (ms === undefined) return undefined
        min = min === undefined ? ms : Math.min(min, ms)
      }
      return min
    }
    const ours = await best(async () => peakRss(biggest.path).ms)
    const gzipT = await best(() => timeCommand('gzip', ['-t', biggest.path]))
    const pigzT = has('pigz') ? await best(() => timeCommand('pigz', ['-t', biggest.path])) : undefined
    const mbps = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${((biggest.mib * MiB) / 1e6 / (ms / 1000)).toFixed(0)} MB/s`)
    const lines = [
      `verify-backup: gzip integrity of a ${biggest.mib} MiB dump (${(biggest.compressed / MiB).toFixed(0)} MiB compressed), best of ${rounds}`,
      '',
      '| checker | time | uncompressed throughput | speed vs this checker |',
      '| --- | ---: | ---: | ---: |',
      `| verify-backup (gzip + pg_dumpall checks; goal ≥ 2× gzip -t, ≥ 1.3× pigz -t) | ${ours!.toFixed(0)} ms | ${mbps(ours)} | 1.00 |`,
      `| gzip -t | ${gzipT === undefined ? 'n/a' : `${gzipT.toFixed(0)} ms`} | ${mbps(gzipT)} | ${gzipT === undefined ? 'n/a' : `${(gzipT / ours!).toFixed(2)}× faster than gzip -t`} |`,
      `| pigz -t | ${pigzT === undefined ? 'not installed' : `${pigzT.toFixed(0)} ms`} | ${mbps(pigzT)} | ${pigzT === undefined ? 'n/a' : `${(pigzT / ours!).toFixed(2)}× faster than pigz -t`} |`,
      '',
      '| dump size | process before the check | peak during the check | the check\'s own memory (goal: at most 64 MB, flat) |',
      '| ---: | ---: | ---: | ---: |',
      ...files.map((f) => {
        const m = peakRss(f.path)
        return `| ${f.mib} MiB | ${m.baselineMiB.toFixed(0)} MiB | ${m.maxRssMiB.toFixed(0)} MiB | ${(m.maxRssMiB - m.baselineMiB).toFixed(0)} MiB |`
      }),
      '',
    ]
    process.stdout.write(lines.join('\n'))
    if (process.env.BENCH_SKIP_RESTORE !== 'true') process.stdout.write(`\n${(await restoreBench(dir)).join('\n')}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--measure') await measure(process.argv[3]!)
else await main()
