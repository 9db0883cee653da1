// The Caretaker console: plain DOM, no framework, no build step. Every API
// call carries the token of this start (from the URL's #token=..., kept for
// this tab only); everything shown is set as text, never as markup.

const SVG = 'http://www.w3.org/2000/svg'
const DAY_MS = 86_400_000
const EXPIRING_MS = 30 * DAY_MS

function takeToken() {
  const match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash)
  if (match) {
    sessionStorage.setItem('caretaker-console-token', match[1])
    // Out of the address bar (and of anything copied from it).
    history.replaceState(null, '', location.pathname)
    return match[1]
  }
  return sessionStorage.getItem('caretaker-console-token') ?? ''
}

const token = takeToken()
const $ = (id) => document.getElementById(id)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'className') node.className = v
    else if (k === 'dataset') Object.assign(node.dataset, v)
    else node.setAttribute(k, v)
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')))
  return node
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = text
  return node
}

class AuthError extends Error {}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } })
  if (res.status === 401) {
    $('auth-error').hidden = false
    throw new AuthError('unauthenticated')
  }
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(`${body.error ?? `HTTP ${res.status}`}: ${body.message ?? ''}`)
  return body
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '')
const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return '—'
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`
  if (seconds < 2 * 86400) return `${(seconds / 3600).toFixed(1)}h`
  return `${(seconds / 86400).toFixed(1)}d`
}

// --- Live event flow -------------------------------------------------------

let lastSeq = 0
let refreshTimer

function addFlow(item) {
  if (item.seq <= lastSeq) return
  lastSeq = item.seq
  const failed = item.kind === 'delivery' && item.delivered === false
  const row = el('tr', { className: `${item.kind}${failed ? ' failed' : ''}${item.dryRun ? ' dry-run' : ''}`, dataset: { kind: item.kind, id: item.id, type: item.type } },
    el('td', {}, time(item.at)),
    el('td', {}, item.kind === 'accepted' ? 'accepted' : failed ? `dead-lettered (${item.attempts} attempt(s))` : `delivered to ${item.function ?? item.trigger}`),
    el('td', {}, item.type),
    el('td', {}, item.kind === 'accepted' ? item.source : item.trigger),
    el('td', {}, item.status === null ? (item.kind === 'delivery' ? 'no answer' : '') : `HTTP ${item.status}`),
    el('td', { className: 'outcome' }, item.outcome ?? (item.reply ? `replied ${item.reply.type}` : '')))
  const body = $('flow').tBodies[0]
  body.prepend(row)
  while (body.rows.length > 200) body.deleteRow(-1)
  if (item.kind === 'delivery') {
    // A delivery changes a function's last outcome, or adds a dead letter.
    clearTimeout(refreshTimer)
    refreshTimer = setTimeout(() => { void loadFunctions(); void loadDeadLetters() }, 300)
  }
}

/** Server-Sent Events read with fetch: EventSource cannot send the Authorization header. */
async function followFlow() {
  for (;;) {
    try {
      const res = await fetch(`/api/events?after=${lastSeq}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } })
      if (res.status === 401) { $('auth-error').hidden = false; setConnection('not authenticated', 'down'); return }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
      setConnection('live', 'live')
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
          if (data) addFlow(JSON.parse(data))
        }
      }
    } catch {
      // Stopped or restarting: try again shortly.
    }
    setConnection('reconnecting', 'down')
    await new Promise((r) => setTimeout(r, 2000))
  }
}

function setConnection(text, state) {
  const badge = $('connection')
  badge.textContent = text
  badge.className = `badge ${state}`
}

// --- Functions and the run form -------------------------------------------

let requests = {}

async function loadFunctions() {
  const status = await api('/api/functions')
  $('mode').textContent = `dry-run: ${status.dryRun ?? 'unknown'}`
  const body = $('functions').tBodies[0]
  body.replaceChildren(...status.functions.map((f) => el('tr', { dataset: { function: f.name } },
    el('td', {}, el('strong', {}, f.name), el('br'), el('code', {}, f.url ?? '')),
    // A function still starting (held requests wait for it, as Knative's activator holds them) is not a fault.
    el('td', { className: f.state === 'ready' ? 'ok' : f.state === 'starting' ? 'starting' : 'bad' }, f.state),
    el('td', {}, ...(f.schedules.length === 0 ? ['on events and requests'] : f.schedules.map((s) => el('div', {}, `${s.pingSource}: "${s.schedule}" ${s.timezone}, next ${new Date(s.next).toLocaleString()}`)))),
    el('td', { className: 'last-outcome' }, f.lastOutcome ? `${time(f.lastOutcome.at)} ${f.lastOutcome.line}` : '—'))))
  const next = Object.fromEntries(status.functions.filter((f) => f.request).map((f) => [f.name, f.request]))
  if (JSON.stringify(Object.keys(next)) !== JSON.stringify(Object.keys(requests))) {
    requests = next
    const select = $('run-function')
    select.replaceChildren(...Object.keys(requests).map((name) => el('option', { value: name }, name)))
    showFields()
  }
}

function showFields() {
  const request = requests[$('run-function').value]
  $('run-fields').replaceChildren(...(request?.fields ?? []).map((f) => el('label', {}, `${f.name}${f.required ? '*' : ''} `,
    f.values
      ? el('select', { name: f.name, dataset: { field: f.name } }, el('option', { value: '' }, ''), ...f.values.map((v) => el('option', { value: String(v) }, String(v))))
      : el('input', { name: f.name, placeholder: f.type, size: '12', dataset: { field: f.name } }))))
}

let lastRequest

async function run(apply) {
  const plan = $('run-plan')
  const applyButton = $('run-apply')
  plan.disabled = true
  applyButton.disabled = true
  const request = apply ? { ...lastRequest, apply: true } : {
    function: $('run-function').value,
    fields: Object.fromEntries([...document.querySelectorAll('#run-fields [data-field]')].map((i) => [i.dataset.field, i.value]).filter(([, v]) => v !== '')),
    apply: false,
  }
  const text = $('run-text')
  $('run-result').hidden = false
  text.className = ''
  text.textContent = `${request.function}: ${apply ? 'applying' : 'planning (dry-run)'}…`
  try {
    const result = await api('/api/run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) })
    const delivered = result.delivery?.delivered !== false
    text.textContent = result.text ?? (delivered ? `${request.function} handled it and replied nothing.` : `${request.function} did not take it: HTTP ${result.delivery?.status ?? 'none'} ${result.delivery?.refusal?.message ?? ''}`)
    const dryRun = result.request?.dryRun !== false
    text.className = !delivered ? 'failed' : dryRun ? 'dry-run' : 'applied'
    text.dataset.state = text.className
    lastRequest = { function: request.function, fields: request.fields }
    // The plan's Apply sends the same request again, to act.
    applyButton.hidden = !(delivered && dryRun)
  } catch (err) {
    text.className = 'failed'
    text.dataset.state = 'failed'
    text.textContent = err.message
    applyButton.hidden = true
  } finally {
    plan.disabled = false
    applyButton.disabled = false
    void loadFunctions().catch(() => undefined)
  }
}

// --- Dead letters ------------------------------------------------------------

async function loadDeadLetters() {
  const { deadLetters } = await api('/api/dead-letters')
  $('dead-letters-empty').hidden = deadLetters.length > 0
  $('dead-letters').tBodies[0].replaceChildren(...deadLetters.map((d) => {
    const button = el('button', { type: 'button', className: 'redeliver' }, 'Redeliver')
    if (!d.redeliverable) { button.disabled = true; button.title = 'its event was not kept (an earlier run of npm start)' }
    button.addEventListener('click', () => void redeliver(d.event.id, button))
    return el('tr', { dataset: { id: d.event.id } },
      el('td', {}, el('code', {}, d.event.id), el('br'), time(d.at)),
      el('td', {}, d.event.type),
      el('td', {}, d.trigger),
      el('td', {}, d.lastStatus === undefined || d.lastStatus === null ? `none (${d.lastError ?? 'unreachable'})` : `HTTP ${d.lastStatus}`),
      el('td', {}, button))
  }))
}

async function redeliver(id, button) {
  button.disabled = true
  const out = $('redeliver-result')
  out.hidden = false
  out.textContent = `${id}: sent to the Broker again…`
  try {
    const result = await api(`/api/dead-letters/${encodeURIComponent(id)}/redeliver`, { method: 'POST' })
    const delivered = result.delivery?.delivered === true
    out.dataset.state = delivered ? 'delivered' : 'failed'
    out.textContent = delivered
      ? `${id} redelivered to ${result.function}: HTTP ${result.delivery.status}${result.text ? `\n${result.text}` : ''}`
      : `${id} redelivered to ${result.function}, and refused again: HTTP ${result.delivery?.status ?? 'none'}`
  } catch (err) {
    out.dataset.state = 'failed'
    out.textContent = err.message
  } finally {
    button.disabled = false
    void loadDeadLetters()
  }
}

// --- Plots -------------------------------------------------------------------

/** A label that fits left of a plot; the whole name is in the mark's title. */
const short = (text) => (text.length > 26 ? `${text.slice(0, 11)}…${text.slice(-14)}` : text)

async function loadBackups() {
  const { sets, note } = await api('/api/backups')
  $('backups-note').textContent = note ?? ''
  const rowHeight = 24
  const left = 190
  const width = 560
  const plotWidth = width - left - 90
  const height = sets.length * rowHeight + 30
  // Ages as a multiple of the RPO: the RPO line sits at 1.
  const maxRatio = Math.max(2, ...sets.map((s) => (s.ageSeconds ?? 0) / s.rpoSeconds))
  const x = (ratio) => left + (Math.min(ratio, maxRatio) / maxRatio) * plotWidth
  const svg = svgEl('svg', { id: 'backups-svg', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'backup ages against their RPO' })
  sets.forEach((s, i) => {
    const y = 10 + i * rowHeight
    const label = s.item ? `${s.set}/${s.item}` : s.set
    svg.append(svgEl('text', { x: left - 6, y: y + 14, 'text-anchor': 'end' }, short(label)))
    const state = s.ageSeconds === null ? 'missing' : s.fresh ? 'fresh' : 'stale'
    const ratio = s.ageSeconds === null ? maxRatio : s.ageSeconds / s.rpoSeconds
    const bar = svgEl('rect', { class: `bar ${state}`, x: left, y: y + 3, width: Math.max(2, x(ratio) - left), height: rowHeight - 8, 'data-set': label })
    bar.append(svgEl('title', {}, s.ageSeconds === null ? `${label}: no artifact${s.error ? ` (${s.error})` : ''}` : `${label}: ${s.newest}, ${duration(s.ageSeconds)} old, RPO ${duration(s.rpoSeconds)}`))
    svg.append(bar)
    svg.append(svgEl('text', { x: x(ratio) + 4, y: y + 14 }, s.ageSeconds === null ? 'none' : `${duration(s.ageSeconds)} / ${duration(s.rpoSeconds)}`))
  })
  svg.append(svgEl('line', { class: 'rpo', x1: x(1), x2: x(1), y1: 4, y2: height - 18 }))
  svg.append(svgEl('text', { x: x(1), y: height - 4, 'text-anchor': 'middle' }, 'RPO'))
  $('backups-plot').replaceChildren(svg)
}

async function loadCertificates() {
  const { certificates, note } = await api('/api/certificates')
  $('certificates-note').textContent = note ?? ''
  const now = Date.now()
  const dated = certificates.filter((c) => c.notAfter)
  const times = dated.map((c) => Date.parse(c.notAfter))
  const from = Math.min(now - 7 * DAY_MS, ...times)
  const to = Math.max(now + 90 * DAY_MS, ...times)
  const rowHeight = 22
  const left = 200
  const width = 560
  const plotWidth = width - left - 20
  const height = certificates.length * rowHeight + 40
  const x = (t) => left + ((t - from) / (to - from)) * plotWidth
  const svg = svgEl('svg', { id: 'certificates-svg', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'certificate expiry timeline' })
  svg.append(svgEl('line', { class: 'axis', x1: left, x2: left + plotWidth, y1: height - 24, y2: height - 24 }))
  svg.append(svgEl('line', { class: 'now', x1: x(now), x2: x(now), y1: 4, y2: height - 20 }))
  svg.append(svgEl('text', { x: x(now), y: height - 8, 'text-anchor': 'middle' }, 'now'))
  // The axis' first day, unless "now" stands there.
  if (x(now) - left > 70) svg.append(svgEl('text', { x: left, y: height - 8 }, new Date(from).toLocaleDateString()))
  svg.append(svgEl('text', { x: left + plotWidth, y: height - 8, 'text-anchor': 'end' }, new Date(to).toLocaleDateString()))
  certificates.forEach((c, i) => {
    const y = 14 + i * rowHeight
    svg.append(svgEl('text', { x: left - 8, y: y + 4, 'text-anchor': 'end' }, short(`${c.namespace}/${c.name}`)))
    svg.append(svgEl('line', { class: 'axis', x1: left, x2: left + plotWidth, y1: y, y2: y }))
    // No notAfter yet (never issued): a hollow mark at the start of the axis.
    const t = c.notAfter ? Date.parse(c.notAfter) : undefined
    const state = t === undefined ? 'expired' : t <= now ? 'expired' : t - now < EXPIRING_MS ? 'expiring' : 'ok'
    const mark = svgEl('circle', { class: `cert ${state}${c.ready ? '' : ' not-ready'}`, cx: t === undefined ? left + 6 : x(t), cy: y, r: 6, 'data-certificate': `${c.namespace}/${c.name}` })
    mark.append(svgEl('title', {}, `${c.namespace}/${c.name}: ${c.notAfter ? `notAfter ${c.notAfter}` : 'no certificate issued yet'}${c.ready ? '' : `, not Ready (${c.reason})`}`))
    svg.append(mark)
  })
  $('certificates-plot').replaceChildren(svg)
}

// --- Start -------------------------------------------------------------------

function report(where) {
  return (err) => {
    if (err instanceof AuthError) return
    $(`${where}-note`)?.replaceChildren(`could not load: ${err.message}`)
  }
}

$('run-function').addEventListener('change', showFields)
$('run-form').addEventListener('submit', (e) => { e.preventDefault(); void run(false) })
$('run-apply').addEventListener('click', () => void run(true))

if (!token) $('auth-error').hidden = false
else {
  void followFlow()
  void loadFunctions().catch(() => undefined)
  void loadDeadLetters().catch(() => undefined)
  void loadBackups().catch(report('backups'))
  void loadCertificates().catch(report('certificates'))
  setInterval(() => { void loadFunctions().catch(() => undefined); void loadBackups().catch(report('backups')); void loadCertificates().catch(report('certificates')) }, 30_000)
  document.body.dataset.ready = 'true'
}
