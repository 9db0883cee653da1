import t from 'tap'
import { freePort } from '../../shared/process/ports.ts'
import { caretaker } from './cli.ts'

// The commands given a server by URL (a cluster's Services), with nothing listening there.

t.setTimeout(300_000)

t.test('status: one function\'s address, or every function\'s with {function}', async (t) => {
  const closed = await freePort('127.0.0.1')
  const one = await caretaker(['status', '--server', `http://127.0.0.1:${closed}`])
  t.equal(one.code, 0, one.stderr)
  t.match(one.stdout, /verify-backup: unknown \(give --server with \{function\} to check every function\)\n {2}schedule verify-backup-sweep/)
  const every = await caretaker(['status', '--server', `http://127.0.0.1:${closed}/{function}`, '-o', 'json'])
  t.equal(every.code, 0, every.stderr)
  const rows = (JSON.parse(every.stdout) as { functions: Array<{ name: string; url: string; state: string }> }).functions
  t.match(rows.find((r) => r.name === 'notify'), { url: `http://127.0.0.1:${closed}/notify`, state: 'unreachable' })
})

t.test('dead letters are not kept by a cluster\'s Broker: said so, exit 2', async (t) => {
  const r = await caretaker(['dead-letters', '--server', 'http://127.0.0.1:9'])
  t.equal(r.code, 2)
  t.match(r.stderr, /keeps no dead letters to list: .*notify's \/dead-letter, which logs it/)
  const bad = await caretaker(['run', 'verify-backup', 'set=x', '--server', 'not a url'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--server must be a URL such as http:\/\/\{function\}\.caretaker\.svc\.cluster\.local/)
})
