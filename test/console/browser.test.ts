import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import puppeteer, { type Page } from 'puppeteer-core'
import { decodePng, distinctColours, pixelsNear, type Image } from './png.ts'
import { startConsolePlatform } from './platform.ts'

// The console in a real headless Chromium (Debian's package, driven by
// puppeteer-core over the DevTools protocol; no browser is downloaded),
// against npm start in-process: the live flow, a dry-run plan then Apply,
// a dead letter then Redeliver, and the plots; screenshots of each state,
// decoded and checked (`tap --save-fixture` keeps them in .tap/fixtures/ to look at).

const CHROMIUM = '/usr/bin/chromium'
const VIEWPORT = { width: 1280, height: 1000 }
// The console's colours (static/console.css): fresh/ok, stale/bad, expiring.
const OK = '#1b873f'
const BAD = '#c62828'

t.setTimeout(120_000)

t.test('the console in Chromium', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: install Debian's chromium package (apt-get install chromium; npm test's setup does)` }, async (t) => {
  const dir = t.testdir()
  const c = await startConsolePlatform(join(dir, 'platform'))
  t.teardown(() => c.close())
  const served = c.platform.console!
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    // Puppeteer adds --headless itself with 'shell'; the rest keeps Chromium off the network and quiet.
    headless: 'shell',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    userDataDir: join(dir, 'profile'),
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.setViewport(VIEWPORT)
  const failures: string[] = []
  page.on('pageerror', (err) => failures.push(String(err)))
  page.on('console', (m) => { if (m.type() === 'error') failures.push(m.text()) })

  /** Screenshots a state into the test dir and returns it decoded, after checking it is an image of something. */
  const shot = async (name: string, target: Page | Awaited<ReturnType<Page['$']>> = page): Promise<Image> => {
    const png = Buffer.from(await target!.screenshot({ type: 'png' }))
    await writeFile(join(dir, `${name}.png`), png)
    const image = decodePng(png)
    t.ok(image.width > 0 && image.height > 0, `${name}.png decodes`)
    t.ok(distinctColours(image) >= 8, `${name}.png is not blank (${distinctColours(image)} colours)`)
    return image
  }
  const text = (selector: string) => page.$eval(selector, (e) => e.textContent ?? '')

  await page.goto(served.openUrl, { waitUntil: 'domcontentloaded' })
  await page.waitForSelector('#functions tbody tr[data-function="prune-snapshots"]', { timeout: 20_000 })
  t.notMatch(page.url(), /token/, 'the token leaves the address bar once read')
  t.equal(await page.$eval('#auth-error', (e) => e.hasAttribute('hidden')), true, 'no authentication error')
  t.match(await text('#mode'), /dry-run: true/, 'the dry-run setting')
  t.match(await text('#functions tbody tr[data-function="prune-snapshots"]'), /prune-snapshots-daily: "0 4 \* \* \*"/, 'each function with its schedule')
  await page.waitForSelector('#connection.live', { timeout: 10_000 })

  // The plots: one bar per backup set (item), the RPO line; one mark per dated Certificate.
  const auth = { authorization: `Bearer ${served.token}` }
  const backups = await (await fetch(new URL('api/backups', served.url), { headers: auth })).json() as { sets: Array<{ fresh: boolean; ageSeconds: number | null }> }
  const certs = await (await fetch(new URL('api/certificates', served.url), { headers: auth })).json() as { certificates: Array<{ notAfter: string | null; ready: boolean }> }
  await page.waitForSelector('#backups-svg rect.bar')
  await page.waitForSelector('#certificates-svg circle.cert')
  t.equal(await page.$$eval('#backups-svg rect.bar', (e) => e.length), backups.sets.length, 'a bar per backup set')
  t.equal(await page.$$eval('#backups-svg rect.bar.stale', (e) => e.length), backups.sets.filter((s) => !s.fresh && s.ageSeconds !== null).length, 'the stale ones marked')
  t.equal(await page.$$eval('#backups-svg rect.bar.fresh', (e) => e.length), backups.sets.filter((s) => s.fresh).length, 'and the fresh ones')
  t.equal(await page.$$eval('#backups-svg line.rpo', (e) => e.length), 1, 'and the RPO line')
  t.equal(await page.$$eval('#certificates-svg circle.cert', (e) => e.length), certs.certificates.length, 'a mark per Certificate on the expiry timeline')
  t.equal(await page.$$eval('#certificates-svg circle.cert.not-ready', (e) => e.length), certs.certificates.filter((x) => !x.ready).length, 'hollow where not Ready')
  t.equal(await page.$$eval('#certificates-svg line.now', (e) => e.length), 1, 'with now marked')
  const backupsPlot = await shot('backups-plot', await page.$('#backups-svg'))
  t.ok(pixelsNear(backupsPlot, OK) > 50, 'the fresh bars are drawn green')
  t.ok(pixelsNear(backupsPlot, BAD) > 50, 'the stale bars red')
  const certificatesPlot = await shot('certificates-plot', await page.$('#certificates-svg'))
  t.ok(pixelsNear(certificatesPlot, OK) + pixelsNear(certificatesPlot, BAD) + pixelsNear(certificatesPlot, '#c77c02') > 30, 'the certificates\' marks are drawn')
  const overview = await shot('overview')
  t.same([overview.width, overview.height], [VIEWPORT.width, VIEWPORT.height], 'the page\'s screenshot has the viewport\'s size')

  // An event sent to the Broker appears in the live flow; refused, it becomes a dead letter.
  t.equal(await c.sendFlaky('browser-1'), 202)
  await page.waitForSelector('#flow tbody tr.accepted[data-id="browser-1"]', { timeout: 15_000 })
  await page.waitForSelector('#flow tbody tr.delivery.failed[data-id="browser-1"]', { timeout: 15_000 })
  t.match(await text('#flow tbody tr.delivery[data-id="browser-1"]'), /dead-lettered.*HTTP 400/, 'its delivery, refused, in the flow')
  await page.waitForSelector('#dead-letters tbody tr[data-id="browser-1"] button.redeliver', { timeout: 15_000 })
  t.match(await text('#dead-letters tbody tr[data-id="browser-1"]'), /caretaker\/flaky.*HTTP 400/, 'and in the dead letters')
  const lettered = await shot('dead-letter')
  t.ok(pixelsNear(lettered, '#fdecea', 4) > 500, 'the refused delivery is shaded')

  // Redeliver once the subscriber takes it.
  c.fix()
  await page.click('#dead-letters tbody tr[data-id="browser-1"] button.redeliver')
  await page.waitForSelector('#redeliver-result[data-state="delivered"]', { timeout: 30_000 })
  t.match(await text('#redeliver-result'), /browser-1 redelivered to caretaker\/flaky: HTTP 200/, 'Redeliver sends it again, and it is taken')
  await page.waitForSelector('#flow tbody tr.delivery:not(.failed)[data-id="browser-1"]', { timeout: 15_000 })
  await shot('redelivered')

  // Run: a dry-run plan first, then Apply.
  await page.select('#run-function', 'prune-snapshots')
  t.ok(await page.$('#run-fields [data-field="policy"]'), 'the request\'s fields as a form')
  await page.click('#run-plan')
  await page.waitForSelector('#run-text[data-state="dry-run"]', { timeout: 30_000 })
  t.match(await text('#run-text'), /^prune-snapshots: [\s\S]*dry-run/, 'the plan, as a dry run')
  t.equal(await page.$eval('#run-apply', (e) => e.hasAttribute('hidden')), false, 'with an Apply button')
  await page.waitForSelector('#flow tbody tr.dry-run', { timeout: 15_000 })
  await shot('plan')
  await page.click('#run-apply')
  await page.waitForSelector('#run-text[data-state="applied"]', { timeout: 30_000 })
  t.match(await text('#run-text'), /applied/, 'Apply sends it again to act, and the outcome says applied')
  t.equal(await page.$eval('#run-apply', (e) => e.hasAttribute('hidden')), true, 'no Apply for what is applied')
  await page.waitForFunction('!/dry-run/.test(document.querySelector(\'#functions tr[data-function="prune-snapshots"] .last-outcome\').textContent)', { timeout: 15_000 })
  t.match(await text('#functions tr[data-function="prune-snapshots"] .last-outcome'), /prune-snapshots: Snapshots pruned/, 'the function\'s last outcome is the applied run')
  const applied = await shot('applied')
  t.ok(pixelsNear(applied, OK, 4) > 100, 'the applied outcome is marked green')

  // Without the token the page shows what to do, and the API refuses.
  const other = await browser.newPage()
  await other.goto(served.url, { waitUntil: 'domcontentloaded' })
  // A string: this project type-checks without the DOM's types.
  await other.waitForFunction('!document.getElementById("auth-error").hidden', { timeout: 10_000 })
  t.pass('without the token: the page says to open the printed URL')
  await other.close()

  t.same(failures, [], 'no script error on the page')
})
