import { connect } from 'node:net'
import t from 'tap'
import { decodeHeaderValue, encodeHeaderValue, MAX_JSON_DEPTH } from '../../shared/runtime/cloudevent-http.ts'
import echo, { invocations } from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'

const TYPE = 'dev.caretaker.test.echo.requested'
const deep = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n)

t.test('header values are percent-encoded and decoded as the HTTP binding prescribes (3.1.3.2)', async (t) => {
  // The binding's own example.
  t.equal(encodeHeaderValue('Euro € 😀'), 'Euro%20%E2%82%AC%20%F0%9F%98%80')
  t.equal(encodeHeaderValue('plain-ascii/with:colons'), 'plain-ascii/with:colons')
  t.equal(encodeHeaderValue('"100%"\n\t\u0000\u007f\u0085'), '%22100%25%22%0A%09%00%7F%C2%85')
  t.equal(decodeHeaderValue('Euro%20%e2%82%ac%20%F0%9F%98%80', 'subject'), 'Euro € 😀', 'lower-case hex is accepted')
  t.equal(decodeHeaderValue('%41BC', 'subject'), 'ABC', 'unnecessary encoding is accepted')
  t.equal(decodeHeaderValue('"a \\"quoted\\" value"', 'subject'), 'a "quoted" value', 'quoted strings are unescaped first')
  t.throws(() => decodeHeaderValue('%C0%A0', 'subject'), { code: 'invalid_cloudevent' }, 'an overlong encoding is refused')
  t.throws(() => decodeHeaderValue('%E2%82', 'subject'), { code: 'invalid_cloudevent' }, 'a cut sequence is refused')
  for (const s of ['', 'x', 'ä ö ü', '\u0001\u001f', '%%%', '"', '𝄞 and \ud800 lone', 'Zeile 1\r\nZeile 2']) {
    const wire = encodeHeaderValue(s)
    t.match(wire, /^[\x21-\x7e]*$/, `${JSON.stringify(s)} is printable ASCII on the wire`)
    t.equal(decodeHeaderValue(wire, 'subject'), s.replace('\ud800', '\ufffd'), `${JSON.stringify(s)} round-trips`)
  }
})

t.test('a Unicode or control-character subject gives a 200 reply, encoded, also when redelivered', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const subject = 'disk full on café-node 😀\n"quoted" 100%'
  const wire = encodeHeaderValue(subject)
  const headers = binaryHeaders(TYPE, { 'ce-subject': wire })
  for (const attempt of ['first', 'redelivered']) {
    const res = await fetch(fn.url, { method: 'POST', headers, body: JSON.stringify({ message: 'x' }) })
    t.equal(res.status, 200, `${attempt}: status`)
    t.equal(res.headers.get('ce-subject'), wire, `${attempt}: the reply's subject is percent-encoded`)
    t.equal(decodeHeaderValue(res.headers.get('ce-subject')!, 'subject'), subject)
    await res.arrayBuffer()
  }
  // A sender that writes raw UTF-8 bytes instead of encoding them is still understood.
  const body = JSON.stringify({ message: 'x' })
  const head = Object.entries({ ...binaryHeaders(TYPE), 'content-length': String(body.length), connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  const url = new URL(fn.url)
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.end(Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nhost: ${url.host}\r\n${head}ce-subject: `), Buffer.from('grüße', 'utf8'), Buffer.from(`\r\n\r\n${body}`)]))
    })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.on('error', reject)
  })
  const raw = { status: Number(/^HTTP\/1.1 (\d+)/.exec(answer)?.[1]), subject: /\r\nce-subject: ([^\r]*)\r\n/i.exec(answer)?.[1] }
  t.same(raw, { status: 200, subject: 'gr%C3%BC%C3%9Fe' })
  // Invalid encodings are the sender's error: a 400 in the documented shape.
  const bad = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE, { 'ce-subject': 'over%C0%A0long' }), body: JSON.stringify({ message: 'x' }) })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error: 'invalid_cloudevent', message: /ce-subject/ })
})

t.test('deeply nested JSON is a 400 with a stable code, and the process lives on', async (t) => {
  const fn = await startTestFunction(echo)
  t.teardown(() => fn.stop())
  const before = invocations.length
  const cases: Array<[string, Record<string, string>, string]> = [
    ['binary data 5,000 deep', binaryHeaders(TYPE), deep(5_000)],
    ['binary data 200,000 deep', binaryHeaders(TYPE), '['.repeat(200_000) + ']'.repeat(200_000)],
    ['structured event 5,000 deep', { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', id: 'deep-1', source: '/s', type: TYPE }).replace(/}$/, `,"data":${deep(5_000)}}`)],
    ['just over the limit', binaryHeaders(TYPE), deep(MAX_JSON_DEPTH + 1)],
  ]
  for (const [name, headers, body] of cases) {
    const res = await fetch(fn.url, { method: 'POST', headers, body })
    t.equal(res.status, 400, `${name}: status`)
    t.match(await res.json(), { error: 'invalid_event_data', message: new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`) }, `${name}: body`)
  }
  // At the limit the nesting is read; the schema then refuses the unknown field.
  const atLimit = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE), body: deep(MAX_JSON_DEPTH) })
  t.equal(atLimit.status, 400)
  t.match(await atLimit.json(), { error: 'invalid_event_data', message: /data.a: is not a known field/ })
  t.equal(invocations.length, before, 'no handler ran')
  const after = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(TYPE), body: JSON.stringify({ message: 'still here' }) })
  t.equal(after.status, 200, 'the function still answers')
})
