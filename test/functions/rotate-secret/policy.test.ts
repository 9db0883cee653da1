import t from 'tap'
import { checkConfig, configSchema, type RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { isDueForRotation } from '../../../functions/rotate-secret/due.ts'
import { describeRule, generateValue } from '../../../functions/rotate-secret/generate.ts'
import { scramSha256Verifier } from '../../../functions/rotate-secret/targets/scram.ts'
import { validateConfig } from '../../../shared/config.ts'

// The pure parts of rotate-secret: the due-date decision, value generation, the config's rules.

t.test('isDueForRotation: the interval against the recorded rotation time', async (t) => {
  const now = new Date('2026-11-23T04:00:00Z')
  const table: Array<[string | undefined, string, boolean, RegExp]> = [
    ['2026-08-15T04:00:00Z', '90d', true, /last rotated 100 days ago; the interval is 90d/],
    ['2026-08-25T04:00:00Z', '90d', true, /last rotated 90 days ago/],
    ['2026-08-25T04:00:01Z', '90d', false, /due at 2026-11-23T04:00:01/],
    ['2026-09-22T04:00:00Z', '180d', false, /last rotated 62 days ago; due at 2027-03-21/],
    [undefined, '90d', true, /no rotation time is recorded/],
    ['last spring', '90d', true, /"last spring" is not a date/],
  ]
  for (const [rotatedAt, interval, due, reason] of table) {
    const d = isDueForRotation(rotatedAt, interval, now)
    t.equal(d.due, due, `${rotatedAt ?? 'none'} + ${interval}`)
    t.match(d.reason, reason)
  }
})

t.test('generateValue follows the rule and is random', async (t) => {
  const a = generateValue({ length: 40, alphabet: 'alphanumeric' }).reveal()
  t.match(a, /^[A-Za-z0-9]{40}$/)
  t.not(generateValue({ length: 40, alphabet: 'alphanumeric' }).reveal(), a)
  t.match(generateValue({ length: 20, alphabet: 'hex' }).reveal(), /^[0-9a-f]{20}$/)
  t.match(generateValue({ length: 30, alphabet: 'abcdefghijklmnopqrstuvwxyz!' }).reveal(), /^[a-z!]{30}$/, 'a custom alphabet')
  t.equal(Buffer.from(generateValue({ bytes: 48, encoding: 'base64' }).reveal(), 'base64').length, 48)
  t.match(generateValue({ bytes: 16, encoding: 'hex' }).reveal(), /^[0-9a-f]{32}$/)
  // Uniform: every character of a 16-character alphabet turns up in 4096 draws.
  t.equal(new Set(generateValue({ length: 4096, alphabet: 'hex' }).reveal()).size, 16)
  const v = generateValue({ length: 32 })
  t.equal(JSON.stringify({ v }), '{"v":"[REDACTED]"}', 'the value never prints')
  t.equal(`${v}`, '[REDACTED]')
  t.equal(describeRule({ bytes: 48, encoding: 'base64' }), '48 random bytes as base64')
  t.equal(describeRule({ length: 40, alphabet: 'alphanumeric' }), '40 random characters from the alphanumeric alphabet')
})

t.test('the SCRAM verifier has the form PostgreSQL stores', async (t) => {
  const salt = Buffer.alloc(16, 1)
  const v = scramSha256Verifier('pencil', 4096, salt)
  t.match(v, /^SCRAM-SHA-256\$4096:AQEBAQEBAQEBAQEBAQEBAQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/)
  t.equal(scramSha256Verifier('pencil', 4096, salt), v, 'deterministic for a salt')
  t.not(scramSha256Verifier('pencil'), scramSha256Verifier('pencil'), 'a fresh salt each time')
  t.notOk(v.includes('pencil'))
})

t.test('the config says what to fix', async (t) => {
  const base = { name: 'a', vault: { mount: 'secret', path: 'x/y' }, keys: ['password'], interval: '90d' }
  const load = (secrets: unknown[]) => {
    const c = validateConfig<RotateSecretConfig>({ secrets }, configSchema, 'test')
    checkConfig(c)
    return c
  }
  const ok = load([{ ...base, target: { kind: 'generated' } }])
  t.same(ok.secrets[0]?.generate, { length: 32, alphabet: 'alphanumeric' }, 'a default generation rule')
  t.equal(ok.leaseNamespace, 'caretaker')
  t.throws(() => load([{ ...base, target: { kind: 'generated' } }, { ...base, target: { kind: 'generated' } }]), /secrets\[1\]\.name: "a" is used by another secret/)
  t.throws(() => load([{ ...base, keys: ['a', 'b'], target: { kind: 'redis', mode: 'requirepass', nodes: [{ host: 'r', port: 6379 }] } }]), /one password: name exactly one key/)
  t.throws(() => load([{ ...base, target: { kind: 'redis', mode: 'acl', nodes: [{ host: 'r', port: 6379 }] } }]), /acl mode needs the ACL user/)
  t.throws(() => load([{ ...base, target: { kind: 'generated' }, generate: { bytes: 32, length: 20 } }]), /either bytes .* or length/)
  t.throws(() => load([{ ...base, target: { kind: 'generated' }, generate: { length: 20, alphabet: 'abc' } }]), /at least 16 distinct characters/)
  t.throws(() => load([{ ...base, target: { kind: 'postgres-role', connection: { host: 'db', password: 'inline' } } }]), /config/, 'a password in the config is refused: connection details come from Vault')
  t.throws(() => load([{ ...base, interval: '90 days', target: { kind: 'generated' } }]), /interval/)
})
