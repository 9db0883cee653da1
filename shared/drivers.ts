import type pg from 'pg'
import type { Redis } from 'ioredis'
import type nodemailer from 'nodemailer'
import { lazy } from './lazy.ts'

/**
 * Clients a function needs only for some of its work, loaded at their first
 * use instead of at start: PostgreSQL (pg), Redis (ioredis) and SMTP
 * (nodemailer). Each costs 11–23 MiB of RSS and tens of ms when loaded
 * (bench/RESULTS.md), which every cold start paid before, whether or not the
 * event it was started for needed them. In the image's bundles they are
 * chunks beside the function's (scripts/build.ts splits dynamic imports).
 * A failed load is not remembered: the next use tries again.
 */

export const loadPg: () => Promise<typeof pg> = lazy(async () => (await import('pg')).default)
export const loadRedis: () => Promise<typeof Redis> = lazy(async () => (await import('ioredis')).Redis)
export const loadNodemailer: () => Promise<typeof nodemailer> = lazy(async () => (await import('nodemailer')).default)
