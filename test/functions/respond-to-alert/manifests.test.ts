import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { checkConfig, configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { matches, parseMatcher, render } from '../../../functions/respond-to-alert/matchers.ts'
import { validateConfig } from '../../../shared/config.ts'
import { parseDuration } from '../../../shared/duration.ts'
import { backoffDelayMs } from '../../../sandbox/mesh/delivery.ts'
import { parseIsoDurationMs } from '../../../sandbox/mesh/manifests.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../../shared/events/validation.ts'

// The shipped example rules are valid, and the RBAC covers every namespace
// where a rule may change something.

const docs = async (path: string) => parseAllDocuments(await readFile(new URL(`../../../${path}`, import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)

t.test('the ConfigMap holds a valid config covering the runbooks\' issues', async (t) => {
  const config = validateConfig<RespondToAlertConfig>(parse(await readFile(new URL('../../../manifests/respond-to-alert/config.yaml', import.meta.url), 'utf8')), configSchema, 'config.yaml')
  t.doesNotThrow(() => checkConfig(config))
  t.same(config.rules.map((r) => r.name), ['crash-looping-pod', 'backup-job-failed', 'backup-verification-failed', 'secret-exposed', 'certificate-expiring', 'vault-sealed'])
  t.same(config.rules.find((r) => r.name === 'vault-sealed')?.actions.map((a) => a.type), ['notify'], 'a sealed Vault is notify only: unsealing stays human')

  // Each request a rule emits, rendered from an alert carrying the labels it names, is a valid event of the catalogue that a Trigger routes.
  for (const rule of config.rules) {
    for (const action of rule.actions) {
      if (action.type !== 'request') continue
      const labels = Object.fromEntries([...JSON.stringify(action.data).matchAll(/\$labels\.([a-zA-Z_]+)/g)].map((m) => [m[1]!, `example-${m[1]}`]))
      const data = Object.fromEntries(Object.entries(action.data).map(([k, v]) => [k, render(v, labels)]))
      t.doesNotThrow(() => new EventDataValidator([action.eventType], catalogue).check(action.eventType, data), `rule ${rule.name}: ${action.eventType} ${JSON.stringify(data)}`)
      t.equal(catalogue.get(action.eventType)?.direction, 'inbound', `rule ${rule.name}: ${action.eventType} is a request a function accepts`)
    }
  }

  const bindings = (await docs('manifests/respond-to-alert/rbac.yaml')).filter((o) => o.kind === 'RoleBinding' && (o.roleRef as { name: string }).name === 'caretaker-respond-to-alert')
  const bound = new Set(bindings.map((b) => (b.metadata as { namespace: string }).namespace))
  for (const rule of config.rules) {
    if (!rule.actions.some((a) => ['restart', 'deletePod', 'scale', 'runCronJob'].includes(a.type))) continue
    for (const ns of rule.allowedNamespaces) t.ok(bound.has(ns), `rule ${rule.name}: a RoleBinding in ${ns}`)
  }
})

t.test('the config\'s retries are its Trigger\'s: the failure report comes on the Broker\'s last attempt', async (t) => {
  const config = validateConfig<RespondToAlertConfig>(parse(await readFile(new URL('../../../manifests/respond-to-alert/config.yaml', import.meta.url), 'utf8')), configSchema, 'config.yaml')
  const triggers = (await docs('triggers/respond-to-alert/respond-to-alert.yaml')).filter((o) => o.kind === 'Trigger')
  const firing = triggers.find((o) => ((o.spec as { filter?: { attributes?: { type?: string } } }).filter?.attributes?.type) === 'dev.caretaker.alert.firing')
  t.equal((firing?.spec as { delivery?: { retry?: number } }).delivery?.retry, config.retries)
  t.equal(validateConfig<RespondToAlertConfig>({ rules: [] }, configSchema, 'test').retries, config.retries, 'the default is the shipped Trigger\'s too')
  // A claim left by a killed replica must run out before the Trigger's retries do, so the last redelivery acts.
  const delivery = (firing?.spec as { delivery: { retry: number; backoffPolicy: 'linear' | 'exponential'; backoffDelay: string } }).delivery
  const retrySpanMs = Array.from({ length: delivery.retry }, (_, i) => backoffDelayMs(delivery.backoffPolicy, parseIsoDurationMs(delivery.backoffDelay)!, i + 1)).reduce((a, b) => a + b, 0)
  t.ok(parseDuration(config.claimFor)! < retrySpanMs, `claimFor ${config.claimFor} is shorter than the retries' ${retrySpanMs / 1000} s`)
})

t.test('bad configs are refused with the field named', async (t) => {
  const base = { alertmanagerUrl: 'http://alertmanager:9093', rules: [{ name: 'r', matchers: ['alertname="X"'], allowedNamespaces: ['apps'], actions: [{ type: 'notify', message: 'm' }] }] }
  const check = (c: unknown) => () => checkConfig(validateConfig<RespondToAlertConfig>(c, configSchema, 'test'))
  t.doesNotThrow(check(base))
  const { alertmanagerUrl: _url, ...noUrl } = base
  t.throws(check(noUrl), /config\.alertmanagerUrl: needed to confirm each alert with Alertmanager before acting/, 'alerts are confirmed with Alertmanager unless told not to')
  t.doesNotThrow(check({ ...noUrl, verifyAlerts: false }))
  t.throws(check({ ...base, rules: [{ ...base.rules[0], matchers: ['alertname=~"("'] }] }), /rules\[0\]\.matchers\[0\]/)
  t.doesNotThrow(check({ ...base, rules: [{ ...base.rules[0], matchers: ['severity=~"(?i)critical"'] }] }), 'RE2 syntax Alertmanager accepts')
  t.throws(check({ ...base, rules: [{ ...base.rules[0], matchers: ['alertname="X"', 'pod=~"(?=web).*"'] }] }), /config\.rules\[0\]\.matchers\[1\]: .*the regex does not compile as RE2.*lookahead/, 'a lookahead is refused at load, the field named')
  t.throws(check({ ...base, rules: [base.rules[0], base.rules[0]] }), /used by another rule/)
  t.throws(check({ verifyAlerts: false, rules: [{ ...base.rules[0], silence: true }] }), /silences need alertmanagerUrl/)
  t.throws(check({ ...base, rules: [{ ...base.rules[0], actions: [{ type: 'scale', kind: 'Deployment', name: 'x', delta: 1, min: 3, max: 1 }] }] }), /min is above max/)
})

t.test('the Alertmanager receiver snippet routes every example rule\'s alerts to alertmanager-bridge', async (t) => {
  const { default: bridge } = await import('../../../functions/alertmanager-bridge/index.ts')
  const snippet = parse(await readFile(new URL('../../../triggers/alertmanager-receiver.yaml', import.meta.url), 'utf8')) as {
    route: { routes: Array<{ receiver: string, matchers: string[] }> }
    receivers: Array<{ name: string, webhook_configs: Array<{ url: string, send_resolved: boolean }> }>
  }
  const receiver = snippet.receivers.find((r) => r.name === 'caretaker')!
  t.equal(new URL(receiver.webhook_configs[0]!.url).pathname, bridge.definition.httpPath, 'the bridge\'s webhook route')
  t.equal(receiver.webhook_configs[0]!.send_resolved, true, 'resolved alerts close the loop')
  const route = snippet.route.routes.find((r) => r.receiver === 'caretaker')!
  const routeMatchers = route.matchers.map(parseMatcher)
  const config = validateConfig<RespondToAlertConfig>(parse(await readFile(new URL('../../../manifests/respond-to-alert/config.yaml', import.meta.url), 'utf8')), configSchema, 'config.yaml')
  const [promRule] = await docs('manifests/monitoring/prometheusrule.yaml')
  const ownAlerts = new Set((promRule!.spec as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.alert)))
  for (const rule of config.rules) {
    const names = rule.matchers.map(parseMatcher).filter((m) => m.name === 'alertname').flatMap((m) => m.op === '=' ? [m.value] : m.value.split('|'))
    t.ok(names.length > 0, `rule ${rule.name} names its alerts`)
    for (const alertname of names) {
      t.ok(routeMatchers.every((m) => matches(m, { alertname })), `rule ${rule.name}: ${alertname} is routed to the bridge`)
      if (alertname.startsWith('Caretaker')) t.ok(ownAlerts.has(alertname), `rule ${rule.name}: ${alertname} is an alert of Caretaker's PrometheusRule`)
    }
  }
})
