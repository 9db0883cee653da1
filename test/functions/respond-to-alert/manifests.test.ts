import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { checkConfig, configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { render } from '../../../functions/respond-to-alert/matchers.ts'
import { validateConfig } from '../../../shared/config.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../../shared/events/validation.ts'

// The shipped example rules are valid, and the RBAC covers every namespace
// where a rule may change something.

const docs = async (path: string) => parseAllDocuments(await readFile(new URL(`../../../${path}`, import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)

t.test('the ConfigMap holds a valid config covering the runbooks\' issues', async (t) => {
  const [cm] = await docs('manifests/respond-to-alert/config.yaml')
  const config = validateConfig<RespondToAlertConfig>(parse((cm!.data as Record<string, string>)['config.yaml']!), configSchema, 'config.yaml')
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

t.test('bad configs are refused with the field named', async (t) => {
  const base = { rules: [{ name: 'r', matchers: ['alertname="X"'], allowedNamespaces: ['apps'], actions: [{ type: 'notify', message: 'm' }] }] }
  const check = (c: unknown) => () => checkConfig(validateConfig<RespondToAlertConfig>(c, configSchema, 'test'))
  t.doesNotThrow(check(base))
  t.throws(check({ rules: [{ ...base.rules[0], matchers: ['alertname=~"("'] }] }), /rules\[0\]\.matchers\[0\]/)
  t.throws(check({ rules: [base.rules[0], base.rules[0]] }), /used by another rule/)
  t.throws(check({ rules: [{ ...base.rules[0], silence: true }] }), /alertmanagerUrl/)
  t.throws(check({ rules: [{ ...base.rules[0], actions: [{ type: 'scale', kind: 'Deployment', name: 'x', delta: 1, min: 3, max: 1 }] }] }), /min is above max/)
})
