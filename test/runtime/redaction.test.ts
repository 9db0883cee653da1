import t from 'tap'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { compiledRedaction, createLogger, REDACTED_PATHS, REDACTION_CENSOR, SecretValue } from '../../shared/logger.ts'
import { compileRedaction, installCompiledRedaction, pathSegments } from '../../shared/redaction.ts'

// The compiled redaction (shared/redaction.ts) must censor exactly what pino's own does with the same paths:
// the same lines, byte for byte, from a logger with pino's redaction and one with the compiled one, on
// hand-picked cases and on generated lines, bindings and interpolated objects.

class Lines extends Writable {
  readonly lines: string[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''))
    done()
  }
}

function pair(): { reference: Logger; compiled: Logger; out: () => [string[], string[]] } {
  const a = new Lines()
  const b = new Lines()
  const options = { redact: { paths: REDACTED_PATHS, censor: REDACTION_CENSOR }, timestamp: false, base: {} }
  const reference = pino(options, a)
  const compiled = installCompiledRedaction(pino(options, b), compileRedaction(REDACTED_PATHS, REDACTION_CENSOR))
  return { reference, compiled, out: () => [a.lines, b.lines] }
}

/** A small seeded generator (mulberry32): the same cases on every run, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = s
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

// Every segment of the redacted paths, and names near them, so generated objects hit the paths often.
const KEYS = [...new Set(REDACTED_PATHS.flatMap(pathSegments).filter((k) => k !== '*')), 'cookie', 'Password', 'tokens', 'items', 'a', 'b', '0', 'msg', 'err', 'level']

function generate(r: () => number, depth: number): unknown {
  const pick = r()
  if (depth <= 0 || pick < 0.35) {
    const p = r()
    if (p < 0.45) return `s${Math.floor(r() * 1000)}`
    if (p < 0.65) return Math.floor(r() * 1e6) / 8
    if (p < 0.75) return r() < 0.5
    if (p < 0.85) return null
    if (p < 0.92) return undefined
    return ''
  }
  if (pick < 0.55) return Array.from({ length: Math.floor(r() * 4) }, () => generate(r, depth - 1))
  const o: Record<string, unknown> = {}
  for (let i = Math.floor(r() * 5); i > 0; i--) o[KEYS[Math.floor(r() * KEYS.length)]!] = generate(r, depth - 1)
  return o
}

t.test('the compiled redaction is installed on every logger createLogger makes', async (t) => {
  const log = createLogger({ destination: new Lines() })
  const stringifiers = (log as unknown as Record<symbol, Record<symbol, unknown>>)[pino.symbols.stringifiersSym]!
  t.equal(stringifiers[pino.symbols.wildcardFirstSym], compiledRedaction.other, 'the wildcard stringifier is the compiled one')
  const child = log.child({ a: 1 })
  t.equal((child as unknown as Record<symbol, Record<symbol, unknown>>)[pino.symbols.stringifiersSym]![pino.symbols.wildcardFirstSym], compiledRedaction.other, 'a child logger inherits it')
})

t.test('the same lines as pino\'s redaction: hand-picked cases', async (t) => {
  const circular: Record<string, unknown> = { password: 'p', name: 'loop' }
  circular.self = circular
  const withProto = Object.create({ password: 'inherited' }) as Record<string, unknown>
  withProto.token = 't'
  const err = Object.assign(new Error('boom'), { token: 'tok', response: { headers: { authorization: 'Bearer x' } } })
  const cases: Array<Record<string, unknown>> = [
    { password: 'p', token: 't', secret: 's', value: 'v', authorization: 'a', stringData: { k: 'v' } },
    { user: { password: 'p', name: 'n', token: 7, secret: null, value: { deep: 1 }, authorization: 'x', stringData: 'y' } },
    { a: { b: { password: 'p', token: 't', secret: 's', value: 'kept at depth 2' } } },
    { a: { b: { c: { password: 'kept at depth 3' } } } },
    { headers: { authorization: 'Bearer x', 'x-vault-token': 'hvs.x', accept: 'json' } },
    { request: { headers: { authorization: 'Bearer x', 'x-vault-token': 'hvs.x', cookie: 'kept' } } },
    { req: { headers: { authorization: 'a', cookie: 'c', 'x-vault-token': 'v', host: 'h' } } },
    { data: { data: { key: 'v' }, metadata: { version: 1 } } },
    { secretRef: { data: { data: 'not under data at the top' } } },
    { list: [{ password: 'p' }, { token: 't' }, 'plain', [{ secret: 's' }]] },
    { list: [[{ password: 'in an array in an array' }]] },
    { a: { password: undefined, token: null } },
    { a: 'string', b: 3, c: true, d: null, e: Number.NaN, f: Number.POSITIVE_INFINITY },
    { circular },
    { inherited: withProto },
    { err },
    { secretValue: new SecretValue('s3cr3t'), nested: { x: new SecretValue('s3cr3t') } },
    { when: new Date(0) },
    { big: { n: 10n, password: 'p' } },
    { headers: 'a string where an object is expected' },
    { data: ['x', { data: 'y' }] },
  ]
  const { reference, compiled, out } = pair()
  for (const c of cases) {
    reference.info(c, 'line')
    compiled.info(c, 'line')
  }
  const [want, got] = out()
  t.equal(got.length, cases.length)
  for (let i = 0; i < cases.length; i++) t.equal(got[i], want[i], `case ${i}: ${want[i]}`)
  // pino's own redactor throws on a typed array in a logged object (it walks the copy of a Buffer, whose
  // getters need a real one): the compiled one prints it, as JSON does.
  const buffer = pair()
  t.throws(() => buffer.reference.info({ body: Buffer.from('x') }, 'line'), TypeError, 'pino\'s own redaction throws on a Buffer')
  buffer.compiled.info({ body: Buffer.from('x'), password: 'p' }, 'line')
  t.match(JSON.parse(buffer.out()[1][0]!), { body: { type: 'Buffer', data: [120] }, password: REDACTION_CENSOR })
  t.notOk(got.join('\n').includes('hvs.x') || got.join('\n').includes('Bearer x') || got.join('\n').includes('s3cr3t'), 'no secret of the cases is printed')
  t.equal(circular.password, 'p', 'the logged objects are not changed')
  t.same(err.response.headers, { authorization: 'Bearer x' })
})

t.test('the same lines as pino\'s redaction: generated lines, bindings and interpolated objects', async (t) => {
  const r = random(0x5eed)
  const { reference, compiled, out } = pair()
  const N = 3000
  for (let i = 0; i < N; i++) {
    const line = generate(r, 5)
    const obj = typeof line === 'object' && line !== null && !Array.isArray(line) ? line as Record<string, unknown> : { line }
    const kind = i % 3
    if (kind === 0) {
      reference.info(obj, 'generated')
      compiled.info(obj, 'generated')
    } else if (kind === 1) {
      reference.child(obj).info({ n: i }, 'bound')
      compiled.child(obj).info({ n: i }, 'bound')
    } else {
      reference.info('interpolated %j and %o', obj, obj)
      compiled.info('interpolated %j and %o', obj, obj)
    }
  }
  const [want, got] = out()
  t.equal(got.length, N)
  const differ = got.flatMap((l, i) => (l === want[i] ? [] : [i]))
  t.same(differ, [], 'no generated case differs')
  if (differ.length > 0) t.comment(`first: pino ${want[differ[0]!]} / compiled ${got[differ[0]!]}`)
  t.ok(got.filter((l) => l.includes(REDACTION_CENSOR)).length > N / 4, 'the generated cases reach the censored paths often')
})

t.test('a logger whose stringifiers are not where pino keeps them keeps pino\'s own redaction', async (t) => {
  const lines = new Lines()
  const log = pino({ timestamp: false, base: {} }, lines)
  t.equal(installCompiledRedaction(log, compiledRedaction), log)
  t.equal((log as unknown as Record<symbol, Record<symbol, unknown>>)[pino.symbols.stringifiersSym]![pino.symbols.wildcardFirstSym], undefined, 'nothing is installed on a logger made without redaction')
})
