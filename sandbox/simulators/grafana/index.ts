import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { FaultRules, type FaultSpec } from '../faults.ts'

/**
 * An in-process Grafana stand-in for tests (no Grafana runs on these
 * machines). It serves the read endpoints a configuration backup uses, with
 * the shapes of Grafana's HTTP API documentation (grafana.com/docs, "HTTP
 * API": Folder/Dashboard Search, Dashboard, Alerting Provisioning):
 *
 *   GET /api/search?type=dash-db&limit=&page=   hits of one page (grafana/grafana pkg/api/search.go:
 *                                              limit above 5000 is a 422; page numbering starts at 1,
 *                                              limit is the page size, default 1000)
 *   GET /api/dashboards/uid/<uid>               { dashboard, meta }; 404 {"message":"Dashboard not found"}
 *   GET /api/v1/provisioning/alert-rules        every provisioned alert rule (not paged)
 *   GET /api/v1/provisioning/contact-points     every contact point (secure settings redacted, as Grafana does)
 *   GET /api/v1/provisioning/policies           the notification policy tree
 *
 * Every request needs `Authorization: Bearer <token>` with the service
 * account token it was started with: 401 {"message":"Unauthorized"}
 * otherwise (as Grafana answers a missing or unknown token). Anything else
 * is 404 {"message":"Not found"}; a method other than GET on these is 405.
 * Faults: `faults.add({ path: '/api/dashboards/uid/*', status: 500 })`.
 */

type Json = Record<string, unknown>

export interface GrafanaDashboard {
  uid: string
  title: string
  folderUid?: string
  folderTitle?: string
  tags?: string[]
  /** The dashboard model's other fields (panels, templating, ...). */
  model?: Json
}

export interface GrafanaRequest { method: string; path: string; status: number; authorization: string | undefined }

export interface GrafanaSimulator {
  readonly url: string
  readonly token: string
  readonly faults: FaultRules
  readonly requests: GrafanaRequest[]
  addDashboard(d: GrafanaDashboard): void
  addAlertRule(rule: Json): void
  addContactPoint(point: Json): void
  setPolicies(tree: Json): void
  close(): Promise<void>
}

const SEARCH_MAX = 5000
const SEARCH_DEFAULT = 1000

function globMatch(glob: string, path: string): boolean {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(path)
}

export async function startGrafanaSimulator(options: { token?: string } = {}): Promise<GrafanaSimulator> {
  const token = options.token ?? `glsa_${'x'.repeat(32)}_0123abcd`
  const dashboards: Array<GrafanaDashboard & { id: number; version: number }> = []
  const alertRules: Json[] = []
  const contactPoints: Json[] = []
  let policies: Json = { receiver: 'grafana-default-email', group_by: ['grafana_folder', 'alertname'] }
  const requests: GrafanaRequest[] = []
  const faults = new FaultRules({ matchPath: globMatch, errorBody: (status) => ({ message: status >= 500 ? 'Internal Server Error' : 'error' }) })

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  function hit(d: (typeof dashboards)[number]): Json {
    const slug = d.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
    return {
      id: d.id, uid: d.uid, orgId: 1, title: d.title, uri: `db/${slug}`, url: `/d/${d.uid}/${slug}`, slug: '', type: 'dash-db',
      tags: d.tags ?? [], isStarred: false, sortMeta: 0,
      ...(d.folderUid ? { folderUid: d.folderUid, folderTitle: d.folderTitle ?? d.folderUid, folderUrl: `/dashboards/f/${d.folderUid}/` } : {}),
    }
  }

  function route(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const path = url.pathname
    const known = path === '/api/search' || path.startsWith('/api/dashboards/uid/') || path.startsWith('/api/v1/provisioning/')
    if (!known) return send(res, 404, { message: 'Not found' })
    const auth = req.headers.authorization
    if (auth !== `Bearer ${token}`) return send(res, 401, { message: 'Unauthorized' })
    if (req.method !== 'GET') return send(res, 405, { message: 'Method Not Allowed' })
    if (path === '/api/search') {
      const limitText = url.searchParams.get('limit')
      const pageText = url.searchParams.get('page')
      // c.QueryInt64: anything but an integer reads as 0, which means the default.
      const limit = Number.parseInt(limitText ?? '', 10) || 0
      if (limit > SEARCH_MAX) return send(res, 422, { message: 'Limit is above maximum allowed (5000), use page parameter to access hits beyond limit' })
      const size = limit > 0 ? limit : SEARCH_DEFAULT
      const page = Math.max(1, Number.parseInt(pageText ?? '', 10) || 1)
      const type = url.searchParams.get('type')
      // Folders are hits too, unless type=dash-db asks for dashboards only.
      const folders = [...new Map(dashboards.filter((d) => d.folderUid).map((d) => [d.folderUid!, d])).values()]
        .map((d) => ({ id: 10_000 + d.id, uid: d.folderUid, orgId: 1, title: d.folderTitle ?? d.folderUid, uri: `db/${d.folderUid}`, url: `/dashboards/f/${d.folderUid}/`, slug: '', type: 'dash-folder', tags: [], isStarred: false, sortMeta: 0 }))
      const all = [...(type === 'dash-db' ? [] : folders), ...(type === 'dash-folder' ? [] : [...dashboards].sort((a, b) => a.title.localeCompare(b.title)).map(hit))]
      return send(res, 200, all.slice((page - 1) * size, page * size))
    }
    if (path.startsWith('/api/dashboards/uid/')) {
      const uid = decodeURIComponent(path.slice('/api/dashboards/uid/'.length))
      const d = dashboards.find((x) => x.uid === uid)
      if (!d) return send(res, 404, { message: 'Dashboard not found' })
      const h = hit(d)
      return send(res, 200, {
        dashboard: { ...d.model, id: d.id, uid: d.uid, title: d.title, tags: d.tags ?? [], version: d.version, schemaVersion: 39 },
        meta: {
          type: 'db', canSave: false, canEdit: false, canAdmin: false, canStar: true, canDelete: false, slug: String(h.uri).slice(3), url: h.url,
          expires: '0001-01-01T00:00:00Z', created: '2026-01-01T00:00:00Z', updated: '2026-11-01T00:00:00Z', updatedBy: 'admin', createdBy: 'admin', version: d.version,
          hasAcl: false, isFolder: false, folderId: 0, folderUid: d.folderUid ?? '', folderTitle: d.folderTitle ?? 'General', folderUrl: d.folderUid ? `/dashboards/f/${d.folderUid}/` : '', provisioned: false, provisionedExternalId: '',
        },
      })
    }
    if (path === '/api/v1/provisioning/alert-rules') return send(res, 200, alertRules)
    if (path === '/api/v1/provisioning/contact-points') return send(res, 200, contactPoints)
    if (path === '/api/v1/provisioning/policies') return send(res, 200, policies)
    return send(res, 404, { message: 'Not found' })
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://grafana')
    const record: GrafanaRequest = { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, status: 0, authorization: req.headers.authorization }
    requests.push(record)
    res.on('finish', () => { record.status = res.statusCode })
    req.resume()
    req.on('end', () => {
      const outcome = faults.apply(record.method, url.pathname)
      const go = () => {
        if (outcome.drop) { res.destroy(); record.status = -1; return }
        if (outcome.respond) return send(res, outcome.respond.status, outcome.respond.body)
        route(req, res, url)
      }
      if (outcome.latencyMs > 0) setTimeout(go, outcome.latencyMs)
      else go()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let nextId = 1
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    faults,
    requests,
    addDashboard: (d) => { dashboards.push({ ...d, id: nextId++, version: 1 }) },
    addAlertRule: (rule) => { alertRules.push(rule) },
    addContactPoint: (point) => { contactPoints.push(point) },
    setPolicies: (tree) => { policies = tree },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

export type { FaultSpec }
