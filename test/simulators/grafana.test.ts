import t from 'tap'
import { startGrafanaSimulator } from '../../sandbox/simulators/grafana/index.ts'

// The Grafana stand-in is as strict as Grafana on what back-up-configuration
// uses: the service account token is required, search pages as Grafana's
// does (limit = page size, at most 5000, pages from 1), unknown dashboards
// are 404 with Grafana's message.

const grafana = await startGrafanaSimulator()
t.teardown(() => grafana.close())
for (let i = 1; i <= 5; i++) grafana.addDashboard({ uid: `d${i}`, title: `Dash ${i}`, ...(i === 2 ? { folderUid: 'f1', folderTitle: 'Folder' } : {}) })
const auth = { authorization: `Bearer ${grafana.token}` }
const get = async (path: string, headers: Record<string, string> = auth) => {
  const res = await fetch(`${grafana.url}${path}`, { headers })
  return { status: res.status, body: await res.json() as unknown }
}

t.test('no token, or another one: 401 as Grafana answers', async (t) => {
  for (const headers of [{}, { authorization: 'Bearer glsa_wrong' }, { authorization: grafana.token }] as Array<Record<string, string>>) {
    for (const path of ['/api/search?type=dash-db', '/api/dashboards/uid/d1', '/api/v1/provisioning/alert-rules', '/api/v1/provisioning/contact-points', '/api/v1/provisioning/policies']) {
      t.same(await get(path, headers), { status: 401, body: { message: 'Unauthorized' } }, `${path} ${JSON.stringify(headers)}`)
    }
  }
})

t.test('search pages with limit and page; dash-db leaves folders out', async (t) => {
  const page = async (n: number) => ((await get(`/api/search?type=dash-db&limit=2&page=${n}`)).body as Array<{ uid: string; type: string }>)
  t.same((await page(1)).map((h) => h.uid), ['d1', 'd2'])
  t.same((await page(2)).map((h) => h.uid), ['d3', 'd4'])
  t.same((await page(3)).map((h) => h.uid), ['d5'])
  t.same(await page(4), [])
  const all = (await get('/api/search')).body as Array<{ type: string }>
  t.equal(all.filter((h) => h.type === 'dash-folder').length, 1, 'without a type, folders are hits too')
  t.same(await get('/api/search?type=dash-db&limit=5001'), { status: 422, body: { message: 'Limit is above maximum allowed (5000), use page parameter to access hits beyond limit' } })
  t.equal(((await get('/api/search?type=dash-db&limit=abc')).body as unknown[]).length, 5, 'a limit that is no number is the default (1000)')
})

t.test('a dashboard by uid, and an unknown one', async (t) => {
  const d = await get('/api/dashboards/uid/d2')
  t.equal(d.status, 200)
  t.match(d.body, { dashboard: { uid: 'd2', title: 'Dash 2' }, meta: { folderUid: 'f1', folderTitle: 'Folder' } })
  t.same(await get('/api/dashboards/uid/nope'), { status: 404, body: { message: 'Dashboard not found' } })
  const res = await fetch(`${grafana.url}/api/dashboards/uid/d1`, { method: 'DELETE', headers: auth })
  t.equal(res.status, 405, 'read-only')
})

t.test('faults answer before the handler', async (t) => {
  grafana.faults.add({ path: '/api/v1/provisioning/*', status: 500 })
  t.equal((await get('/api/v1/provisioning/alert-rules')).status, 500)
  t.equal((await get('/api/v1/provisioning/alert-rules')).status, 200, 'once')
})
