import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startConsolePlatform, FLAKY_TYPE } from './platform.ts'

// The console's JSON API over HTTP, against npm start in-process (the
// sandbox, two shipped functions): every call needs the token of this start;
// each answer is what the caretaker command answers with --json.

t.setTimeout(240_000)

interface FlowItem { seq: number; kind: string; type: string; id: string; trigger: string | null; status: number | null; delivered: boolean | null; outcome: string | null; dryRun: boolean | null }

t.test('the console API', async (t) => {
  const c = await startConsolePlatform(t.testdir())
  t.teardown(() => c.close())
  const served = c.platform.console!
  t.ok(served, 'startLocalPlatform starts the console when given a consolePort')
  t.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'on loopback')
  t.equal(served.openUrl, `${served.url}#token=${served.token}`, 'the URL to open carries the token in its fragment')
  t.ok(served.token.length >= 32, 'a long random token')
  const auth = { authorization: `Bearer ${served.token}` }
  const get = (path: string, headers: Record<string, string> = auth) => fetch(new URL(path, served.url), { headers })
  const post = (path: string, body?: unknown) => fetch(new URL(path, served.url), { method: 'POST', headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })

  t.test('authentication', async (t) => {
    for (const path of ['api/functions', 'api/events', 'api/dead-letters', 'api/backups', 'api/certificates', 'api/nothing']) {
      const res = await get(path, {})
      t.equal(res.status, 401, `${path} without a token: 401`)
      const body = await res.json() as Record<string, unknown>
      t.same(Object.keys(body).sort(), ['error', 'message'], 'the error catalogue\'s shape')
      t.match(body, { error: 'unauthenticated', message: /Authorization: Bearer/ })
    }
    t.equal((await get('api/functions', { authorization: `Bearer ${served.token.slice(0, -2)}xx` })).status, 401, 'a wrong token: 401')
    t.equal((await get('api/functions', { authorization: served.token })).status, 401, 'the token not as a bearer: 401')
    t.equal((await fetch(new URL('api/run', served.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"function":"prune-snapshots"}' })).status, 401, 'run without a token: 401')
    const page = await get('/', {})
    t.equal(page.status, 200, 'the page itself holds nothing secret: served without the token')
    const html = await page.text()
    t.notMatch(html, served.token, 'and never holds the token')
    t.match(page.headers.get('content-security-policy'), /default-src 'self'/, 'with a strict content security policy')
    t.equal((await get('console.js', {})).headers.get('content-type'), 'text/javascript; charset=utf-8')
    const missing = await get('api/nothing')
    t.equal(missing.status, 404)
    t.match(await missing.json(), { error: 'not_found' })
    const wrongMethod = await post('api/functions')
    t.equal(wrongMethod.status, 405)
    t.match(await wrongMethod.json(), { error: 'method_not_allowed' })
  })

  t.test('functions, schedules and manual requests', async (t) => {
    const res = await get('api/functions')
    t.equal(res.status, 200)
    const body = await res.json() as { dryRun: string; functions: Array<{ name: string; url: string; state: string; schedules: Array<{ pingSource: string; next: string }>; request: { type: string; fields: Array<{ name: string }> } | null }> }
    t.equal(body.dryRun, 'true', 'the sandbox runs in dry-run unless asked')
    t.same(body.functions.map((f) => f.name), ['prune-snapshots', 'verify-backup'])
    const prune = body.functions[0]!
    t.match(prune, { state: 'ready', url: c.platform.functions.find((f) => f.name === 'prune-snapshots')!.url })
    t.match(prune.schedules, [{ pingSource: 'prune-snapshots-daily', schedule: '0 4 * * *', timezone: 'Etc/UTC' }], 'its PingSource')
    t.ok(Date.parse(prune.schedules[0]!.next) > Date.now(), 'with its next run')
    t.equal(prune.request?.type, 'dev.caretaker.snapshots.prune.requested', 'the request it takes')
    t.ok(prune.request?.fields.some((f) => f.name === 'policy'), 'and its fields')
    t.same(body.functions[1]!.schedules, [], 'verify-backup has no PingSource here')
  })

  t.test('run: a dry-run plan, then apply', async (t) => {
    const bad = await post('api/run', { function: 'prune-snapshots', fields: { nope: 'x' } })
    t.equal(bad.status, 400, 'a field the request does not take: 400')
    t.match(await bad.json(), { error: 'invalid_request', message: /has no field "nope"/ })
    t.equal((await post('api/run', { function: 'nobody' })).status, 400, 'an unknown function: 400')
    t.equal((await post('api/run', { function: 'prune-snapshots', fields: { policy: 1 } })).status, 400, 'fields that are not strings: 400')
    const unsupported = await fetch(new URL('api/run', served.url), { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'prune' })
    t.equal(unsupported.status, 415, 'not JSON: 415')
    const large = await fetch(new URL('api/run', served.url), { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ function: 'prune-snapshots', fields: { policy: 'x'.repeat(70_000) } }) })
    t.equal(large.status, 413, 'a body over 64 KiB: 413')

    const plan = await post('api/run', { function: 'prune-snapshots', fields: {} })
    t.equal(plan.status, 200)
    const planned = await plan.json() as { function: string; request: { id: string; dryRun: boolean }; delivery: { delivered: boolean }; outcome: { dryrun?: string; type: string } | null; text: string }
    t.match(planned, { function: 'prune-snapshots', request: { dryRun: true }, delivery: { delivered: true } }, 'the request was delivered as a dry run')
    t.equal(planned.outcome?.dryrun, 'true', 'its reply is a dry run\'s')
    t.match(planned.text, /^prune-snapshots: /, 'with the plan as a person reads it')
    t.match(planned.text, /dry-run/)

    const applied = await post('api/run', { function: 'prune-snapshots', fields: {}, apply: true })
    t.equal(applied.status, 200)
    const done = await applied.json() as typeof planned
    t.match(done, { request: { dryRun: false }, delivery: { delivered: true } }, 'apply sends the request again, to act')
    t.not(done.request.id, planned.request.id, 'as a new request')
    t.equal(done.outcome?.dryrun, undefined, 'its reply is an applied run\'s (the runtime marks only a dry run\'s, shared/events/reply.ts)')
    t.match(done.text, /applied/)

    const status = await (await get('api/functions')).json() as { functions: Array<{ name: string; lastOutcome: { dryRun: boolean | null; line: string } | null }> }
    const last = status.functions[0]!.lastOutcome
    t.match(last, { line: /^prune-snapshots: / }, 'the function\'s last outcome')
    t.not(last?.dryRun, true, 'is the applied run')
    t.notMatch(last?.line, /dry-run/)
  })

  t.test('the live flow, dead letters and redeliver', async (t) => {
    const controller = new AbortController()
    t.teardown(() => controller.abort())
    const stream = await fetch(new URL('api/events', served.url), { headers: auth, signal: controller.signal })
    t.equal(stream.status, 200)
    t.match(stream.headers.get('content-type'), /^text\/event-stream/)
    const items: FlowItem[] = []
    void (async () => {
      let buffer = ''
      try {
        for await (const chunk of stream.body!.pipeThrough(new TextDecoderStream())) {
          buffer += chunk
          let end
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const data = buffer.slice(0, end).split('\n').find((l) => l.startsWith('data: '))
            buffer = buffer.slice(end + 2)
            if (data) items.push(JSON.parse(data.slice(6)) as FlowItem)
          }
        }
      } catch {
        // aborted at the end
      }
    })()
    const until = async (check: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 30_000
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await sleep(50)
      }
    }
    await until(() => items.some((i) => i.kind === 'delivery' && i.dryRun === false), 'the kept history')
    t.ok(items.some((i) => i.kind === 'accepted' && i.type === 'dev.caretaker.snapshots.prune.requested'), 'the stream starts with what happened before (the runs above)')
    t.ok(items.some((i) => i.kind === 'accepted' && i.outcome?.startsWith('prune-snapshots: ') && i.dryRun === true), 'each outcome with its line and whether it was a dry run')

    t.equal(await c.sendFlaky('flaky-1'), 202, 'the Broker takes the event')
    await until(() => items.some((i) => i.kind === 'delivery' && i.id === 'flaky-1'), 'the delivery')
    t.match(items.find((i) => i.kind === 'accepted' && i.id === 'flaky-1'), { type: FLAKY_TYPE, outcome: null }, 'the event appears live as accepted')
    t.match(items.find((i) => i.kind === 'delivery' && i.id === 'flaky-1'), { trigger: 'caretaker/flaky', delivered: false, status: 400 }, 'and its refused delivery')
    t.ok(items.every((i, n) => n === 0 || i.seq > items[n - 1]!.seq), 'in order')
    t.notMatch(JSON.stringify(items), '"n":1', 'no event data goes out')

    const letters = await (await get('api/dead-letters')).json() as { deadLetters: Array<{ event: { id: string; type: string }; trigger: string; lastStatus: number; redeliverable: boolean; answer?: string }> }
    t.match(letters.deadLetters, [{ event: { id: 'flaky-1', type: FLAKY_TYPE }, trigger: 'caretaker/flaky', lastStatus: 400, redeliverable: true }], 'the dead letter, as caretaker dead-letters lists it')

    const unknown = await post('api/dead-letters/nope/redeliver')
    t.equal(unknown.status, 400, 'redelivering what is no dead letter: 400')
    t.match(await unknown.json(), { error: 'invalid_request', message: /no dead letter with id nope/ })

    const again = await post('api/dead-letters/flaky-1/redeliver')
    t.equal(again.status, 200)
    t.match(await again.json(), { redelivered: { id: 'flaky-1', type: FLAKY_TYPE }, delivery: { delivered: false, status: 400 } }, 'redelivered, and refused again while the cause stays')
    c.fix()
    const fixed = await post('api/dead-letters/flaky-1/redeliver')
    t.match(await fixed.json(), { redelivered: { id: 'flaky-1' }, delivery: { delivered: true, status: 200 } }, 'once fixed, redelivered and taken')
    t.equal(c.receiver.on('/flaky').length, 3, 'the subscriber got it three times')
    await until(() => items.some((i) => i.kind === 'delivery' && i.id === 'flaky-1' && i.delivered === true), 'the redelivery in the flow')
  })

  t.test('backup freshness and certificates', async (t) => {
    const backups = await (await get('api/backups')).json() as { sets: Array<{ set: string; item: string | null; rpoSeconds: number; ageSeconds: number | null; newest: string | null; fresh: boolean }> }
    t.ok(backups.sets.length >= 4, 'each of verify-backup\'s sets in the sandbox')
    const postgres = backups.sets.find((s) => s.set === 'postgresql')
    t.ok(postgres?.newest, 'the newest artifact of a set of files')
    t.ok(postgres!.rpoSeconds > 0 && postgres!.ageSeconds !== null, 'its age and RPO')
    t.equal(postgres!.fresh, postgres!.ageSeconds! <= postgres!.rpoSeconds, 'fresh when within its RPO')
    t.ok(backups.sets.some((s) => !s.fresh), 'the demo has a stale set to show')
    const certs = await (await get('api/certificates')).json() as { certificates: Array<{ namespace: string; name: string; notAfter: string | null; ready: boolean; reason: string | null }> }
    t.ok(certs.certificates.length >= 2, 'the demo platform\'s Certificates')
    for (const cert of certs.certificates) t.same(Object.keys(cert).sort(), ['name', 'namespace', 'notAfter', 'ready', 'reason'], 'names, times and states only')
    t.ok(certs.certificates.some((c) => c.notAfter && Date.parse(c.notAfter) - Date.now() < 30 * 86_400_000), 'one expiring soon, as the demo seeds it')
  })
})
