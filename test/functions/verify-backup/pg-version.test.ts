import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { parseDumpVersion, postgresMajor, readDumpVersion, VERSION_SEARCH_BYTES } from '../../../functions/verify-backup/formats/pg-version.ts'
import { postgresSkipReason } from '../../../sandbox/harness/postgres.ts'
import { pgDumpall } from './artifacts.ts'

// The PostgreSQL major version a pg_dumpall dump came from, read from the
// header pg_dump writes for each database.

t.test('major versions, before and after PostgreSQL 10', async (t) => {
  t.equal(postgresMajor('15.8 (Debian 15.8-1.pgdg120+1)'), '15')
  t.equal(postgresMajor('17.2'), '17')
  t.equal(postgresMajor('17beta1'), '17')
  t.equal(postgresMajor('9.6.24'), '9.6')
  t.equal(postgresMajor('11.22'), '11')
  t.equal(postgresMajor('9'), undefined, 'before 10 the major has two parts')
  t.equal(postgresMajor('banana'), undefined)
})

t.test('the first database header names the server', async (t) => {
  const text = [
    '--', '-- PostgreSQL database cluster dump', '--', '', 'CREATE ROLE app;', '',
    '--', '-- PostgreSQL database dump', '--', '',
    '-- Dumped from database version 16.4 (Debian 16.4-1.pgdg120+2)',
    '-- Dumped by pg_dump version 17.1', '',
    '-- Dumped from database version 99.0', '',
  ].join('\n')
  t.same(parseDumpVersion(text), { server: '16.4 (Debian 16.4-1.pgdg120+2)', major: '16', pgDump: '17.1' })
  t.same(parseDumpVersion('-- Dumped from database version 9.6.24\n'), { server: '9.6.24', major: '9.6' })
  t.equal(parseDumpVersion('--\n-- PostgreSQL database cluster dump\n--\nCREATE ROLE app;\n'), undefined, 'a globals-only dump has no version')
  t.equal(parseDumpVersion('SELECT 1; -- Dumped from database version 15.1\n'), undefined, 'only a comment line of its own counts')
})

const skip = postgresSkipReason()
t.test('a real pg_dumpall dump', { skip: skip || false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-pgversion-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const sql = await pgDumpall()
  t.ok(sql.startsWith('--\n-- PostgreSQL database cluster dump\n'), 'pg_dumpall writes its cluster header first')
  const file = join(dir, 'all.sql.gz')
  await writeFile(file, gzipSync(sql))
  const version = await readDumpVersion(file)
  t.ok(version, 'the header is found')
  t.match(version!.major, /^\d+$/)
  t.equal(version!.major, postgresMajor(/server_version[^\n]*/.exec(sql)?.[0] ?? version!.server), 'the major of the server that made it')
  t.equal(version!.pgDump?.split('.')[0], version!.major, 'made by the same major pg_dump')

  const padded = join(dir, 'padded.sql.gz')
  // A roles section larger than the search window: the header is past it.
  await writeFile(padded, gzipSync('--\n-- PostgreSQL database cluster dump\n--\n' + '-- role\n'.repeat(VERSION_SEARCH_BYTES / 8 + 10) + sql))
  t.equal(await readDumpVersion(padded), undefined, 'a header past the search window is not found')

  const notGzip = join(dir, 'plain.sql')
  await writeFile(notGzip, sql)
  t.equal(await readDumpVersion(notGzip), undefined, 'a file that does not gunzip has no version')
  t.equal(await readDumpVersion(join(dir, 'missing.sql.gz')), undefined, 'nor does a missing one')
})
